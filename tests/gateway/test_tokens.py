"""Issue 16 item 5: several gateway tokens (``SARVANOM_GATEWAY_TOKENS``), each with its own
requests-per-minute, tokens-per-minute and USD limits; 429 with ``Retry-After`` in OpenAI's
shape; per-token ``/metrics``; ``GET /v1/usage``. Limits here are per process (no Redis;
the shared case is tests/redis/test_gateway_tokens.py)."""

from __future__ import annotations

import json
import logging

import pytest
from gateway_helpers import TOKEN, ollama_client, stub_client
from prometheus_client.parser import text_string_to_metric_families

from sarvanom_sdk import AsyncSarvanClient, ConfigurationError, Settings
from sarvanom_sdk.gateway.tokens import Keyring, TokenGuard
from sarvanom_sdk.shared_state.limiter import RateLimiter

A_TOKEN = "sk-team-a-CANARY-7f3e9a1c5b"
B_TOKEN = "sk-team-b-CANARY-2d8c4e6f0a"
A_NAME, B_NAME = "team-a", "team-b-secret-project"


class Wall:
    """A settable wall clock for the limiter."""

    def __init__(self, now: float = 1_000_000 * 60.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def guard(text: str, wall: Wall | None = None) -> TokenGuard:
    return TokenGuard(Keyring.parse(text), RateLimiter(None, wall=wall or Wall()))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def scrape(client, headers: dict[str, str]) -> dict[tuple[str, tuple], float]:
    reply = await client.get("/metrics", headers=headers)
    assert reply.status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await reply.text())
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# -- the token list ----------------------------------------------------------------------
def test_issue16_5_the_line_format_and_json_give_the_same_tokens(tmp_path) -> None:
    lines = f"""
        # comment
        {A_NAME}:{A_TOKEN}:rpm=60,tpm=100000,usd=5
        {B_NAME}:{B_TOKEN}
    """
    as_json = json.dumps([
        {"name": A_NAME, "token": A_TOKEN, "rpm": 60, "tpm": 100000, "usd": 5},
        {"name": B_NAME, "token": B_TOKEN},
    ])
    inline = f"{A_NAME}:{A_TOKEN}:rpm=60,tpm=100000,usd=5;{B_NAME}:{B_TOKEN}"
    path = tmp_path / "tokens"
    path.write_text(lines)
    for ring in (Keyring.parse(lines), Keyring.parse(as_json), Keyring.from_value(inline),
                 Keyring.from_value(str(path))):
        a, b = ring.identify(A_TOKEN), ring.identify(B_TOKEN)
        assert a is not None and a.name == A_NAME
        assert (a.limits.requests_per_minute, a.limits.tokens_per_minute) == (60, 100000)
        assert a.limits.budget_usd == 5
        assert b is not None and b.name == B_NAME and b.limits.requests_per_minute is None
        assert ring.identify(A_TOKEN + "x") is None and ring.identify("") is None
        assert A_TOKEN not in repr(ring.tokens), "only hashes are kept"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f"team-a:{A_TOKEN}:rpm=ten", "entry 1 rpm"),
        (f"team-a:{A_TOKEN}:burst=3", "entry 1"),
        (f"team-a:{A_TOKEN}:rpm=-1", "entry 1 (team-a) requests_per_minute"),
        ("team-a:short", "entry 1 token (team-a)"),
        (f"-bad:{A_TOKEN}", "entry 1 name"),
        (f"a:{A_TOKEN} b:{A_TOKEN}", "entry 2"),
        (f'[{{"name": "a", "token": "{A_TOKEN}", "rps": 1}}]', "entry 1 rps"),
        ("[not json", "SARVANOM_GATEWAY_TOKENS"),
        ("", "SARVANOM_GATEWAY_TOKENS"),
        ("/no/such/token/file", "SARVANOM_GATEWAY_TOKENS"),
    ],
)
def test_issue16_5_a_bad_token_list_names_the_entry_never_the_token(text, where) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Keyring.from_value(text)
    assert str(caught.value).startswith(where), str(caught.value)
    assert A_TOKEN not in str(caught.value)


# -- limits per token --------------------------------------------------------------------
async def test_issue16_5_each_token_has_its_own_requests_per_minute(open_gateway) -> None:
    wall = Wall(60.0 * 1_000_000)  # the start of a window
    tokens = guard(f"{A_NAME}:{A_TOKEN}:rpm=2 {B_NAME}:{B_TOKEN}:rpm=4", wall)
    client = await open_gateway(stub_client(), tokens=tokens)
    statuses = {}
    for token in (A_TOKEN, B_TOKEN):
        statuses[token] = [
            (await client.post("/api/query", headers=auth(token), json={"prompt": "hi"})).status
            for _ in range(5)
        ]
    assert statuses[A_TOKEN] == [200, 200, 429, 429, 429]
    assert statuses[B_TOKEN] == [200, 200, 200, 200, 429]
    # GETs need a token but are not model calls: not counted, not refused
    assert (await client.get("/v1/models", headers=auth(A_TOKEN))).status == 200
    # 429 in OpenAI's shape, with Retry-After = the rest of the window
    wall.now += 45
    reply = await client.post("/v1/chat/completions", headers=auth(A_TOKEN),
                              json={"model": "sarvanom/auto",
                                    "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "15"
    error = (await reply.json())["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert "requests per minute" in error["message"] and error["param"] is None
    # two windows later the token may call again
    wall.now += 120
    assert (await client.post("/api/query", headers=auth(A_TOKEN),
                              json={"prompt": "hi"})).status == 200


async def test_issue16_5_tokens_per_minute_count_the_answers_usage(
    open_gateway, emulator
) -> None:
    wall = Wall(60.0 * 1_000_000)
    tokens = guard(f"{A_NAME}:{A_TOKEN}:tpm=30", wall)
    client = await open_gateway(ollama_client(emulator, cache_ttl_seconds=0), tokens=tokens)
    used = 0
    for n in range(20):
        reply = await client.post("/api/query", headers=auth(A_TOKEN),
                                  json={"prompt": f"question {n}"})
        if reply.status == 429:
            break
        body = await reply.json()
        assert body["usage"]["total_tokens"] > 0
        used += body["usage"]["total_tokens"]
    assert reply.status == 429 and used >= 30, "refused only once the answers used the limit"
    assert (await reply.json())["error"]["type"] == "tokens"
    assert int(reply.headers["Retry-After"]) >= 1
    usage = await (await client.get("/v1/usage", headers=auth(A_TOKEN))).json()
    assert usage["usage"]["tokens_this_window"] == used
    samples = await scrape(client, headers=auth(A_TOKEN))
    assert value(samples, "sarvanom_gateway_token_tokens_total", token=A_NAME) == used
    assert value(samples, "sarvanom_gateway_token_refused_total", token=A_NAME,
                 limit="tokens_per_minute") == 1


async def test_issue16_5_a_spent_budget_is_insufficient_quota(open_gateway, emulator) -> None:
    settings = Settings(
        enable_paid_api=True,
        openai_api_key="sk-test-gateway-tokens",
        openai_base_url=emulator.url_for("openai"),
        cache_ttl_seconds=0,
    )
    tokens = guard(f"{A_NAME}:{A_TOKEN}:usd=0.0000001")
    client = await open_gateway(AsyncSarvanClient(settings), tokens=tokens)
    first = await (await client.post("/api/query", headers=auth(A_TOKEN),
                                     json={"prompt": "hi"})).json()
    assert first["provider"] == "openai" and first["cost_usd"] > 0.0000001
    reply = await client.post("/api/query", headers=auth(A_TOKEN), json={"prompt": "again"})
    assert reply.status == 429
    assert "Retry-After" not in reply.headers and reply.headers["x-should-retry"] == "false"
    error = (await reply.json())["error"]
    assert error["code"] == "insufficient_quota" and error["type"] == "insufficient_quota"
    usage = await (await client.get("/v1/usage", headers=auth(A_TOKEN))).json()
    assert usage["usage"]["spent_usd"] == pytest.approx(first["cost_usd"])
    assert usage["remaining_budget_usd"] == 0
    samples = await scrape(client, headers=auth(A_TOKEN))
    assert value(samples, "sarvanom_gateway_token_spend_usd_total", token=A_NAME) == (
        pytest.approx(first["cost_usd"])
    )
    assert value(samples, "sarvanom_gateway_token_requests_total", token=A_NAME) == 1


# -- /v1/usage ---------------------------------------------------------------------------
async def test_issue16_5_usage_answers_the_callers_own_usage_and_limits(open_gateway) -> None:
    tokens = guard(f"{A_NAME}:{A_TOKEN}:rpm=10,usd=2 {B_NAME}:{B_TOKEN}")
    client = await open_gateway(stub_client(), tokens=tokens)
    for _ in range(3):
        await client.post("/api/query", headers=auth(A_TOKEN), json={"prompt": "hi"})
    mine = await (await client.get("/v1/usage", headers=auth(A_TOKEN))).json()
    assert mine["name"] == A_NAME and mine["shared"] is False
    assert mine["limits"] == {"requests_per_minute": 10, "tokens_per_minute": None,
                              "budget_usd": 2}
    assert mine["usage"]["requests_this_window"] == 3
    assert mine["remaining_budget_usd"] == 2
    theirs = await (await client.get("/v1/usage", headers=auth(B_TOKEN))).json()
    assert theirs["name"] == B_NAME and theirs["usage"]["requests_this_window"] == 0
    assert (await client.get("/v1/usage")).status == 401


# -- no leak -----------------------------------------------------------------------------
async def test_issue16_5_canary_tokens_and_other_names_never_leak(
    open_gateway, caplog
) -> None:
    """The tokens' values appear in no answer (any endpoint, 401, 429), no log line, no
    repr; a caller never sees another token's name except as a /metrics label."""
    caplog.set_level(logging.DEBUG)
    tokens = guard(f"{A_NAME}:{A_TOKEN}:rpm=1 {B_NAME}:{B_TOKEN}:rpm=1")
    client = await open_gateway(stub_client(), tokens=tokens)
    seen: list[str] = []
    for method, path in [("POST", "/api/query"), ("POST", "/api/query"), ("GET", "/v1/usage"),
                         ("GET", "/dashboard/state.json"), ("GET", "/health/gpu-providers"),
                         ("GET", "/v1/models"), ("GET", "/nope")]:
        for headers in (auth(A_TOKEN), auth(A_TOKEN + "x"), {"Authorization": A_TOKEN}):
            reply = await client.request(method, path, headers=headers, json={"prompt": "hi"})
            seen.append(f"{reply.status} {dict(reply.headers)} {await reply.text()}")
    seen.append(await (await client.get("/metrics", headers=auth(A_TOKEN))).text())
    seen += [repr(tokens.keyring.tokens), repr(tokens), caplog.text]
    everything = "\n".join(seen)
    assert "429" in everything and "401" in everything
    for secret in (A_TOKEN, B_TOKEN, A_TOKEN[-12:], B_TOKEN[-12:]):
        assert secret not in everything
    answers = "\n".join(seen[:-4])  # what caller A got, /metrics aside
    assert B_NAME not in answers


# -- with the single token ---------------------------------------------------------------
async def test_issue16_5_the_single_token_joins_as_default(open_gateway) -> None:
    tokens = guard(f"{A_NAME}:{A_TOKEN}:rpm=1")
    client = await open_gateway(stub_client(), token=TOKEN, tokens=tokens)
    for _ in range(3):
        reply = await client.post("/api/query", headers=auth(TOKEN), json={"prompt": "hi"})
        assert reply.status == 200, "the single token has no limits"
    assert (await (await client.get("/v1/usage", headers=auth(TOKEN))).json())["name"] == "default"
    with pytest.raises(ConfigurationError, match="default"):
        await open_gateway(stub_client(), token=TOKEN, tokens=guard(f"default:{A_TOKEN}"))


async def test_issue16_5_single_token_mode_is_unchanged(open_gateway) -> None:
    client = await open_gateway(stub_client(), token=TOKEN)
    for _ in range(3):
        assert (await client.post("/api/query", headers=auth(TOKEN),
                                  json={"prompt": "hi"})).status == 200
    assert (await client.post("/api/query", headers=auth(A_TOKEN),
                              json={"prompt": "hi"})).status == 401


async def test_issue16_5_a_streamed_answers_tokens_are_counted(open_gateway, emulator) -> None:
    tokens = guard(f"{A_NAME}:{A_TOKEN}:tpm=100000")
    client = await open_gateway(ollama_client(emulator, cache_ttl_seconds=0), tokens=tokens)
    reply = await client.post(
        "/v1/chat/completions", headers=auth(A_TOKEN),
        json={"model": "sarvanom/auto", "stream": True,
              "stream_options": {"include_usage": True},
              "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status == 200
    events = [line[6:] for line in (await reply.text()).splitlines()
              if line.startswith("data: {")]
    total = next(json.loads(e)["usage"]["total_tokens"] for e in reversed(events)
                 if json.loads(e).get("usage"))
    assert total > 0
    usage = await (await client.get("/v1/usage", headers=auth(A_TOKEN))).json()
    assert usage["usage"]["tokens_this_window"] == total
    assert usage["usage"]["requests_this_window"] == 1


# -- sarvanom serve ----------------------------------------------------------------------
import test_serve_cli  # noqa: E402

fake_run_app = test_serve_cli.fake_run_app  # the fixture, shared with test_serve_cli


def test_issue16_5_serve_takes_the_token_list(fake_run_app, monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner
    from sarvanom_cli.serve import serve

    from sarvanom_sdk.gateway.app import TOKENS

    monkeypatch.delenv("SARVANOM_REDIS_URL", raising=False)
    path = tmp_path / "tokens"
    path.write_text(f"{A_NAME}:{A_TOKEN}:rpm=5\n{B_NAME}:{B_TOKEN}\n")
    path.chmod(0o600)
    monkeypatch.setenv("SARVANOM_GATEWAY_TOKENS", str(path))
    result = CliRunner().invoke(serve, ["--host", "0.0.0.0"])  # the list is a token
    assert result.exit_code == 0, result.output
    assert "auth: 2 bearer tokens, limits per process" in result.output
    assert A_TOKEN not in result.output and B_TOKEN not in result.output
    (call,) = fake_run_app
    ring = call["app"][TOKENS].keyring
    assert ring.identify(A_TOKEN).limits.requests_per_minute == 5

    monkeypatch.setenv("SARVANOM_GATEWAY_TOKENS", f"{A_NAME}:{A_TOKEN}:rpm=lots")
    result = CliRunner().invoke(serve, [])
    assert result.exit_code == 1 and A_TOKEN not in result.output
    assert result.output.strip().splitlines() == [
        "Error: entry 1 rpm: must be a number, got 'lots'"
    ]
