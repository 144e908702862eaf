"""Issue 17: D1 (no cached sampled answers), D3 (port in use), D17 (Retry-After), D20
(stub-only warning, invalid address) and the x-sarvanom-overhead-ms header and metric."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner
from gateway_helpers import ollama_client, stub_client
from sarvanom_cli.serve import serve

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.gateway import CallerPolicy
from sarvanom_sdk.gateway.callers import decide_cache
from sarvanom_sdk.testing import Fault

CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "Write a poem"}]}


def _cache(reply) -> str:
    return reply.headers["x-sarvanom-cache"]


@pytest.mark.parametrize(
    ("path", "body"), [("/api/query", {"prompt": "Write a poem"}), ("/v1/chat/completions", CHAT)]
)
async def test_d1_sampled_answers_are_not_cached(open_gateway, emulator, path, body) -> None:
    client = await open_gateway(ollama_client(emulator))
    for temperature in (1.0, None):  # None: the default, 0.7
        sampled = {**body, "temperature": temperature} if temperature else body
        replies = [await client.post(path, json=sampled) for _ in range(2)]
        assert [_cache(r) for r in replies] == ["miss", "miss"]
    greedy = {**body, "temperature": 0}
    assert [_cache(await client.post(path, json=greedy)) for _ in range(2)] == ["miss", "hit"]
    assert _cache(await client.post(path, json={**greedy, "cache": False})) == "miss"
    no_cache = await client.post(path, json=greedy, headers={"Cache-Control": "no-cache"})
    assert _cache(no_cache) == "miss"
    opted_in = {**body, "temperature": 1.0, "cache": True}
    assert [_cache(await client.post(path, json=opted_in)) for _ in range(2)] == ["miss", "hit"]


async def test_d1_cache_false_is_refused_when_the_operator_forbids_it(open_gateway) -> None:
    client = await open_gateway(stub_client(), callers=CallerPolicy.parse("none"))
    reply = await client.post("/v1/chat/completions", json={**CHAT, "cache": False})
    assert reply.status == 400
    assert (await reply.json())["error"]["param"] == "cache"


def test_d1_the_rule() -> None:
    assert decide_cache({}, None)["cache"] is False
    assert decide_cache({"temperature": 0}, None)["cache"] is True
    assert decide_cache({"temperature": 0}, "max-age=0, No-Store")["cache"] is False
    assert decide_cache({"temperature": 2, "cache": True}, None)["cache"] is True


def test_d3_a_port_in_use_is_one_line_and_no_banner(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve, ["--port", str(port)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "address already in use" in lines[0]


async def test_d17_retry_after_comes_from_the_breaker(open_gateway, emulator) -> None:
    strict = AsyncSarvanClient(
        Settings(
            ollama_base_url=emulator.refused_url("ollama"),
            fallback_to_stub=False,
            circuit_fail_max=1,
            circuit_reset_seconds=120,
            max_retries=0,
        )
    )
    client = await open_gateway(strict)
    for _ in range(2):  # the failure that opens it, then a request refused by it
        reply = await client.post("/api/query", json={"prompt": "hi"})
        assert reply.status == 503
        assert 60 < int(reply.headers["Retry-After"]) <= 120
        assert (await reply.json())["error"]["code"] == "no_provider_available"


async def test_d17_retry_after_without_an_open_breaker_is_short(open_gateway, emulator) -> None:
    emulator.inject("ollama", Fault.http(500))
    strict = ollama_client(emulator, fallback_to_stub=False, max_retries=0, circuit_fail_max=5)
    client = await open_gateway(strict)
    reply = await client.post("/v1/chat/completions", json=CHAT)
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"


def _serve_output(monkeypatch, tmp_path, args: list[str], env: dict[str, str]) -> str:
    from sarvanom_sdk.gateway import server

    monkeypatch.chdir(tmp_path)
    for name in (
        "SARVANOM_GATEWAY_TOKEN",
        "SARVANOM_PROVIDERS",
        "OLLAMA_BASE_URL",
        "GPU_REMOTE_URL",
        "HUGGINGFACE_API_KEY",
        "ENABLE_PAID_API",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SARVANOM_GATEWAY_WORKERS", "1")  # one process: server.serve is faked
    monkeypatch.setattr(server, "serve", lambda app, host, port, **kw: kw["ready"](port))
    monkeypatch.setattr("sarvanom_cli.serve._configure_logging", lambda level: None)
    result = CliRunner().invoke(serve, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_d20_serve_warns_when_only_the_stub_is_configured(monkeypatch, tmp_path) -> None:
    output = _serve_output(monkeypatch, tmp_path, [], {})
    assert "warning: no provider is configured" in output and "--strict" in output
    configured = _serve_output(
        monkeypatch, tmp_path, [], {"OLLAMA_BASE_URL": "http://127.0.0.1:11434"}
    )
    assert "warning" not in configured


@pytest.mark.parametrize("host", ["127.0.0.300", "1.2.3", "bad host", "-x.example", "::zz"])
def test_d20_an_invalid_host_is_invalid_address(host) -> None:
    result = CliRunner().invoke(serve, ["--host", host])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: invalid address {host!r}: give an IP address (127.0.0.1, ::1, 0.0.0.0) or a "
        "host name"
    ]


async def test_issue17_overhead_header_excludes_the_provider(open_gateway, emulator) -> None:
    """The provider takes 0.3 s; the overhead the gateway reports leaves that out."""
    import time

    emulator.inject("ollama", Fault.delay(0.3))
    client = await open_gateway(ollama_client(emulator))
    for path, body in (("/api/query", {"prompt": "hi"}), ("/v1/chat/completions", CHAT)):
        for stream in (False, True) if path.startswith("/v1") else (False,):
            started = time.monotonic()
            reply = await client.post(path, json={**body, "stream": True} if stream else body)
            await reply.read()
            wall_ms = (time.monotonic() - started) * 1000
            overhead = float(reply.headers["x-sarvanom-overhead-ms"])
            assert 0 <= overhead < wall_ms - 250, (path, stream, overhead, wall_ms)
    cached = await client.post("/api/query", json={"prompt": "hi", "temperature": 0})
    hit = await client.post("/api/query", json={"prompt": "hi", "temperature": 0})
    assert _cache(hit) == "hit" and float(hit.headers["x-sarvanom-overhead-ms"]) >= 0
    assert cached.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'sarvanom_gateway_overhead_seconds_count{endpoint="/api/query"} 3.0' in metrics
    assert 'sarvanom_gateway_overhead_seconds_count{endpoint="/v1/chat/completions"} 2.0' in metrics
