"""Issue 16 item 5, the proof: a gateway token's limits hold across gateway processes
sharing one Redis. Four real ``sarvanom serve`` child processes on 127.0.0.1 share the
test's redis-server; callers spread over all four; the token's requests per minute hold
for the whole fleet (within the sliding window's slack), not per process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
A_TOKEN = "sk-fleet-a-CANARY-4c1d9e7b2a"
B_TOKEN = "sk-fleet-b-CANARY-8e5f3a0c6d"
#: Only what the test names configures the gateways: the stub answers, no key is set.
DROP = ("HUGGINGFACE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GPU_REMOTE_TOKEN",
        "HUGGINGFACE_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_BASE_URL",
        "GPU_REMOTE_URL", "ENABLE_PAID_API", "SARVANOM_PROVIDERS", "SARVANOM_GATEWAY_TOKEN",
        "SARVANOM_GATEWAY_TOKENS", "SARVANOM_REDIS_URL", "SARVANOM_ENV_FILE")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Callable[..., list[str]]]:
    """``fleet(n, tokens, redis_url)``: n ``sarvanom serve`` processes; their URLs once
    every one answers /health. Stopped (SIGTERM) after the test."""
    children: list[subprocess.Popen[str]] = []

    def start(n: int, tokens: str, redis_url: str) -> list[str]:
        env = {k: v for k, v in os.environ.items() if k not in DROP}
        env.update(SARVANOM_GATEWAY_TOKENS=tokens, SARVANOM_REDIS_URL=redis_url,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        urls = []
        for _ in range(n):
            port = free_port()
            children.append(subprocess.Popen(
                [sys.executable, "-m", "sarvanom_cli.main", "serve", "--port", str(port),
                 "--workers", "1", "--log-level", "warning"],
                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True,
            ))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90  # generous: a busy 2-core machine
        for child, url in zip(children, urls, strict=True):
            while True:
                if child.poll() is not None:
                    err = child.stderr.read() if child.stderr else ""
                    pytest.fail(f"sarvanom serve exited: {err}")
                try:
                    urllib.request.urlopen(url + "/health", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("sarvanom serve did not answer /health within 90 s")
                    time.sleep(0.1)
        return urls

    yield start
    for child in children:
        child.terminate()
    for child in children:
        try:
            _, err = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            _, err = child.communicate()
        assert A_TOKEN not in (err or "") and B_TOKEN not in (err or "")


def call(url: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one request to a gateway."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_issue16_5_a_tokens_rpm_holds_across_four_gateway_processes(
    redis_url: str, fleet
) -> None:
    """4 gateways, RPM 20 for team-a: 160 requests spread over the four admit 20 (plus at
    most the sliding window's carry-over if the burst crosses a minute), not 4 x 20; the
    others get 429 with Retry-After; team-b's limit is its own; /metrics of the four sum
    to what was admitted and /v1/usage on any process reports the shared count."""
    rpm = 20
    urls = fleet(4, f"team-a:{A_TOKEN}:rpm={rpm} team-b:{B_TOKEN}:rpm=100", redis_url)
    jobs = [urls[n % 4] for n in range(8 * rpm)]  # round robin, like a load balancer
    began = time.time()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda url: call(url, "/api/query", A_TOKEN, {"prompt": "hi"}),
                                jobs))
    seconds = time.time() - began
    statuses = [status for status, _, _ in results]
    accepted = statuses.count(200)
    assert statuses.count(429) + accepted == len(jobs), sorted(set(statuses))
    # the sliding window: over T seconds (< a window) at most rpm + rpm * T / 60
    slack = math.ceil(rpm * seconds / 60) + 1
    assert rpm <= accepted <= rpm + slack, (accepted, seconds)
    for status, headers, body in results:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
            assert body["error"]["code"] == "rate_limit_exceeded"
            assert body["error"]["type"] == "requests"
    # the other token's limit is untouched
    assert call(urls[1], "/api/query", B_TOKEN, {"prompt": "hi"})[0] == 200
    # each process counted its own admissions; together, exactly what was accepted
    admitted = []
    for url in urls:
        request = urllib.request.Request(url + "/metrics",
                                         headers={"Authorization": f"Bearer {A_TOKEN}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            text = reply.read().decode()
        assert A_TOKEN not in text and B_TOKEN not in text
        line = next(row for row in text.splitlines()
                    if row.startswith('sarvanom_gateway_token_requests_total{token="team-a"}'))
        admitted.append(float(line.rsplit(" ", 1)[1]))
    assert sum(admitted) == accepted
    assert sum(1 for n in admitted if n > 0) >= 2, ("the load was spread", admitted)
    window = int(time.time() // 60)
    usages = [call(url, "/v1/usage", A_TOKEN)[2] for url in urls]
    assert all(u["shared"] is True and u["name"] == "team-a" for u in usages)
    if int(time.time() // 60) == window:  # no minute boundary between the reads
        assert len({u["usage"]["requests_this_window"] for u in usages}) == 1, usages


async def _gateway(stack, redis_url: str, tokens: str, **settings):  # type: ignore[no-untyped-def]
    from aiohttp.test_utils import TestClient, TestServer

    from sarvanom_sdk import AsyncSarvanClient, Settings
    from sarvanom_sdk.gateway import create_app
    from sarvanom_sdk.gateway.tokens import TokenGuard

    client = AsyncSarvanClient(Settings(redis_url=redis_url, cache_ttl_seconds=0, **settings))
    app = create_app(client, tokens=TokenGuard.from_value(tokens))
    return await stack.enter_async_context(TestClient(TestServer(app, host="127.0.0.1")))


async def test_issue16_5_spend_and_tokens_are_shared_by_two_gateways(
    redis_url: str, emu
) -> None:
    """A budget spent through one gateway is spent for the other (insufficient_quota
    there), and /v1/usage on either shows the other's tokens."""
    from contextlib import AsyncExitStack

    from sarvanom_sdk.shared_state import flush

    tokens = f"team-a:{A_TOKEN}:tpm=1000000,usd=0.0000001"
    paid = dict(enable_paid_api=True, openai_api_key="sk-test-gateway-tokens-redis",
                openai_base_url=emu.url_for("openai"))
    auth = {"Authorization": f"Bearer {A_TOKEN}"}
    async with AsyncExitStack() as stack:
        one = await _gateway(stack, redis_url, tokens, **paid)
        other = await _gateway(stack, redis_url, tokens, **paid)
        answer = await (await one.post("/api/query", headers=auth,
                                       json={"prompt": "hi"})).json()
        assert answer["provider"] == "openai" and answer["cost_usd"] > 0
        assert flush()  # the deferred record reached Redis
        usage = await (await other.get("/v1/usage", headers=auth)).json()
        assert usage["shared"] is True
        assert usage["usage"]["spent_usd"] == pytest.approx(answer["cost_usd"])
        assert usage["usage"]["tokens_this_window"] == answer["usage"]["total_tokens"]
        reply = await other.post("/api/query", headers=auth, json={"prompt": "hi"})
        assert reply.status == 429
        assert (await reply.json())["error"]["code"] == "insufficient_quota"


async def test_issue16_5_with_redis_down_the_limits_hold_per_process() -> None:
    """Redis unreachable: every request is still answered or refused by this process's
    own counts (never a 500)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        gateway = await _gateway(stack, f"redis://127.0.0.1:{free_port()}/0",
                                 f"team-a:{A_TOKEN}:rpm=3")
        auth = {"Authorization": f"Bearer {A_TOKEN}"}
        statuses = [(await gateway.post("/api/query", headers=auth,
                                        json={"prompt": "hi"})).status for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        usage = await (await gateway.get("/v1/usage", headers=auth)).json()
        assert usage["usage"]["requests_this_window"] == 3
