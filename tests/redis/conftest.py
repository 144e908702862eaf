"""Fixtures for tests against a real ``redis-server`` on loopback.

* ``redis_server`` (session): one server on a free port, no persistence, temp directory;
  ``redis_url`` (per test): its URL after FLUSHALL, so every test starts empty.
* ``spare_redis`` (per test): a second server on another port, for tests that kill and
  restart it (``.kill()``, ``.start()``).
* ``emulator`` (module): one :class:`ProviderEmulator` in this process whose fixed answer
  never repeats the prompt; worker processes get its URLs.
* ``workers`` (module): four spawned processes, each building its own SarvanClient.

Policy when ``redis-server`` is missing or does not start: with ``CI`` set every test here
FAILS with the reason; elsewhere it is skipped with the reason (install it with
``apt-get install redis-server``). Every test here that uses Redis is marked ``redis``; the
few that do not (local cases of the reserve/settle contract) run anywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import redis_server as _rs  # noqa: E402  (stdlib-only helper beside this file)
from redis_helpers import ANSWER  # noqa: E402
from required_server import RequiredServer  # noqa: E402  (tests/, on sys.path)
from workers import Workers  # noqa: E402

from sarvanom_sdk.testing import ProviderEmulator  # noqa: E402

REDIS = RequiredServer(
    "redis-server", _rs.RedisServer, (_rs.RedisServerError,), "; apt-get install redis-server"
)
_serving = REDIS.serving


#: Fixtures that need a running redis-server.
_NEEDS_REDIS = frozenset({"redis_server", "redis_url", "spare_redis", "raw_redis", "workers"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``redis`` every test here that uses a Redis fixture (directly or through a
    parametrized fixture's ``redis`` case)."""
    for item in items:
        if _HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        names = set(getattr(item, "fixturenames", ()))
        if names & _NEEDS_REDIS or "[redis" in item.name:
            item.add_marker(pytest.mark.redis)


@pytest.fixture(autouse=True)
def _forget_clients() -> Iterator[None]:
    """Collect each test's clients before and after it: their Redis listener threads end
    with them (else one whose server is gone keeps reconnecting, and one whose server's
    port a new server reuses logs "reachable again" in a later test)."""
    import gc

    gc.collect()
    yield
    gc.collect()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[_rs.RedisServer]:
    with _serving() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: _rs.RedisServer) -> str:
    """The session server's URL, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def spare_redis() -> Iterator[_rs.RedisServer]:
    """A server of this test's own, to kill and restart."""
    with _serving() as server:
        yield server


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[Any]:
    """A plain redis-py client on the test's (empty) server, for inspection."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[ProviderEmulator]:
    with ProviderEmulator(reply_text=ANSWER) as emu:
        yield emu


@pytest.fixture
def emu(emulator: ProviderEmulator) -> ProviderEmulator:
    """The module's emulator with no faults and no recorded requests."""
    emulator.clear()
    emulator.reset()
    return emulator


@pytest.fixture(scope="module")
def workers(redis_server: _rs.RedisServer) -> Iterator[Workers]:
    pool = Workers(4)
    try:
        yield pool
    finally:
        pool.close()
