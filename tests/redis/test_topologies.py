"""Issue 16 item 4: Redis Sentinel and Redis Cluster, real topologies on loopback from
Debian's packages (redis-server, redis-sentinel, redis-cli).

* Sentinel: one primary, one replica, three sentinels; three worker processes under load
  while the primary is killed: no request lost, and sharing resumes on the promoted
  replica without restarting the clients.
* Cluster: three primaries; breakers, cache and budget shared across processes, every
  Lua script on one slot (no CROSSSLOT: no key fault, no outage).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from redis_helpers import free_chain, outcomes
from redis_server import RedisServerError
from topologies import ClusterSetup, SentinelSetup
from workers import Workers

from sarvanom_sdk.testing import Fault, ProviderEmulator

pytestmark = pytest.mark.redis


def _started(setup: Any) -> Any:
    import os

    try:
        return setup.start()
    except (RedisServerError, FileNotFoundError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"could not start the topology: {exc}")
        pytest.skip(f"could not start the topology: {exc}")


@pytest.fixture
def sentinel() -> Iterator[SentinelSetup]:
    setup = _started(SentinelSetup())
    try:
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def cluster() -> Iterator[ClusterSetup]:
    setup = _started(ClusterSetup())
    try:
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def three() -> Iterator[Workers]:
    pool = Workers(3)
    try:
        yield pool
    finally:
        pool.close()


def shared_again(pool: Workers, deadline_seconds: float = 20.0) -> bool:
    """An answer one worker caches is a hit in another (each try a new prompt)."""
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        prompt = f"shared? {uuid.uuid4().hex}"
        pool.call(0, "complete", prompt=prompt)
        if pool.call(1, "complete", prompt=prompt)["cached"]:
            return True
        time.sleep(0.3)
    return False


def test_issue16_4_sentinel_failover_under_load_loses_nothing_and_sharing_resumes(
    sentinel: SentinelSetup, three: Workers, emu: ProviderEmulator
) -> None:
    three.all("build", **free_chain(emu, sentinel.url))
    assert shared_again(three, 5.0), "sharing works through the sentinels' primary"
    for index in range(len(three)):
        three.send(index, "load", seconds=6.0, prefix=f"load {index}")
    time.sleep(1.5)
    old = sentinel.primary_port()
    sentinel.primary.kill()
    loads = [three.receive(index) for index in range(len(three))]
    for load in loads:
        assert load["errors"] == [], load["errors"][:3]
        assert set(load["providers"]) == {"ollama_local"}, load["providers"]
        assert sum(load["providers"].values()) > 20
    end = time.monotonic() + 20
    while sentinel.primary_port() == old and time.monotonic() < end:
        time.sleep(0.1)
    assert sentinel.primary_port() == sentinel.replica.port, "the replica was promoted"
    assert shared_again(three), "sharing resumed on the promoted replica, same clients"
    assert all(h["reachable"] for h in three.all("health"))


def test_issue16_4_a_cluster_shares_breakers_cache_and_budget_on_one_slot_per_script(
    cluster: ClusterSetup, three: Workers, emu: ProviderEmulator
) -> None:
    three.all(
        "build",
        **free_chain(emu, cluster.url, providers=("ollama_local", "openai"), circuit_fail_max=2),
        openai_base_url=emu.url_for("openai"),
        enable_paid_api=True,
        budget_usd=0.0005,
    )
    assert shared_again(three, 10.0), "the cache is shared through the cluster"
    emu.inject("ollama", Fault.http(503), times=2)
    three.call(0, "complete", prompt=f"fail {uuid.uuid4().hex}")
    three.call(0, "complete", prompt=f"fail {uuid.uuid4().hex}")
    # the opening reaches the others by pub/sub (100 ms when idle; generous on a busy box)
    end = time.monotonic() + 10.0
    while time.monotonic() < end and any(
        three.call(index, "circuits")["ollama_local"] != "open" for index in (1, 2)
    ):
        time.sleep(0.05)
    for index in (1, 2):
        prompt = f"while open {uuid.uuid4().hex}"
        answer = three.call(index, "complete", prompt=prompt, max_tokens=8)
        assert outcomes(answer)[0][1].startswith("circuit open until"), answer["attempts"]
        assert answer["provider"] == "openai", "the paid provider answered (budget script ran)"
    runs = three.all("spend", prefix="pay", limit=200, max_tokens=8)
    costs = [a["cost"] for run in runs for a in run if a["provider"] == "openai"]
    assert sum(costs) <= 0.0005 + max(costs)
    health = three.all("health")
    assert all(h["reachable"] for h in health), health


def test_issue16_4_every_script_key_group_is_on_one_cluster_slot(cluster: ClusterSetup) -> None:
    """The ledger's lease script and a breaker's scripts run on the cluster without a
    CROSSSLOT refusal: their keys share a hash tag."""
    from sarvanom_sdk.shared_state import flush
    from sarvanom_sdk.shared_state.ledger import SharedBudgetLedger
    from sarvanom_sdk.shared_state.redis_backend import RedisLink, make_clients
    from sarvanom_sdk.shared_state.state import RedisState

    client, make_async = make_clients(cluster.url)
    link = RedisLink(client, "slots", async_client=make_async)
    ledger = SharedBudgetLedger(link, 1.0)
    assert ledger.reserve(0.001) is not None
    assert ledger._lease > 0, "the lease script ran on the cluster"
    committed, spent = ledger._keys
    assert client.keyslot(committed) == client.keyslot(spent)
    storage = RedisState(link).circuit_storage("p", "http://x")
    storage.increment_counter()
    storage.state = "open"
    storage.opened_at = datetime.now(timezone.utc)
    assert flush()
    assert client.hget(storage.key, "s") == b"open"
    assert link._faults_logged == set() and link.outages == 0
