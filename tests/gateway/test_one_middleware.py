"""Issue 18 goal 2: the gateway's per-request bookkeeping runs in one middleware
(``app._serve``) instead of four. What the order of the four decided must not change:
Host and Origin (F3) before the token, the token before the body is read, a refusal on
``/v1/messages`` in Anthropic's shape and elsewhere in OpenAI's, one access-log line per
request in the same format, the trace id echoed on every answer, refusals included."""

from __future__ import annotations

import logging
import re

import pytest
from gateway_helpers import TOKEN, gateway_of, ollama_client

from sarvanom_sdk.gateway.tokens import Keyring, TokenGuard
from sarvanom_sdk.shared_state.limiter import RateLimiter

CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {
    "model": "sarvanom/auto",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
BAD_HOST = {"Host": "attacker.example"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Bearer {TOKEN}"])
async def test_issue18_a_foreign_host_is_403_whatever_the_token(
    open_gateway, emulator, authorization
) -> None:
    """F3 runs before authentication: no 401 tells a rebinding page about the token."""
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    headers = {**BAD_HOST, **({"Authorization": authorization} if authorization else {})}
    reply = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert reply.status == 403
    assert (await reply.json())["error"]["code"] == "host_not_allowed"
    assert reply.headers["X-Request-ID"]
    assert emulator.request_count() == 0


async def test_issue18_a_foreign_host_never_reaches_the_token_guard(open_gateway, emulator) -> None:
    """With per-token limits, a refused Host is not counted against any token."""
    tokens = TokenGuard(Keyring.parse(f"team:{TOKEN}:rpm=1"), RateLimiter(None))
    client = await open_gateway(ollama_client(emulator), tokens=tokens)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(3):
        reply = await client.post("/v1/chat/completions", json=CHAT, headers={**BAD_HOST, **auth})
        assert reply.status == 403
    reply = await client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert reply.status == 200  # the one request a minute was still free


async def test_issue18_the_token_is_checked_before_the_body(open_gateway, emulator) -> None:
    """Without the token, a body that is not JSON is 401 (not 415): nothing is read."""
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    reply = await client.post(
        "/v1/chat/completions", data=b"x=1", headers={"Content-Type": "text/plain"}
    )
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="sarvanom"'
    reply = await client.post(
        "/v1/chat/completions",
        data=b"x=1",
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"},
    )
    assert reply.status == 415
    assert emulator.request_count() == 0


async def test_issue18_messages_refusals_keep_anthropic_s_shape(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    host = await client.post("/v1/messages", json=MESSAGES, headers=BAD_HOST)
    token = await client.post("/v1/messages", json=MESSAGES)
    route = await client.get("/v1/messages/nowhere", headers={"x-api-key": TOKEN})
    for reply, status in ((host, 403), (token, 401), (route, 404)):
        assert reply.status == status
        body = await reply.json()
        assert body["type"] == "error" and set(body["error"]) >= {"type", "message"}
    chat = await client.post("/v1/chat/completions", json=CHAT)
    assert set((await chat.json())["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)]
)
async def test_issue18_an_unexpected_error_is_500_in_the_path_s_shape(
    open_gateway, emulator, caplog, path, body
) -> None:
    client = await open_gateway(ollama_client(emulator))

    async def broken(request):
        raise RuntimeError("a bug")

    gateway_of(client).client.complete = broken
    caplog.set_level(logging.INFO, logger="sarvanom_sdk.gateway")
    reply = await client.post(path, json=body, headers={"X-Request-ID": "bug-1"})
    assert reply.status == 500
    answer = await reply.json()
    assert "bug-1" in answer["error"]["message"]
    assert ("type" in answer) == (path == "/v1/messages")
    assert any(r.getMessage().startswith("unhandled error on POST") for r in caplog.records)
    lines = [r for r in caplog.records if getattr(r, "status", None) == 500]
    assert len(lines) == 1


async def test_issue18_the_access_log_line_is_unchanged(open_gateway, emulator, caplog) -> None:
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    caplog.set_level(logging.INFO, logger="sarvanom_sdk.gateway")
    ok = await client.post(
        "/v1/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "line-1"},
    )
    refused = await client.post("/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "r-2"})
    assert (ok.status, refused.status) == (200, 401)
    assert (ok.headers["X-Request-ID"], refused.headers["X-Request-ID"]) == ("line-1", "r-2")
    access = [r for r in caplog.records if hasattr(r, "http_method")]
    assert [r.trace_id for r in access] == ["line-1", "r-2"]
    assert re.fullmatch(
        r"POST /v1/chat/completions 200 \d+\.\dms line-1 ollama_local", access[0].getMessage()
    )
    assert re.fullmatch(r"POST /v1/chat/completions 401 \d+\.\dms r-2 -", access[1].getMessage())
    assert set(vars(access[0])) >= {
        "http_method",
        "path",
        "status",
        "duration_ms",
        "trace_id",
        "provider",
        "remote",
    }
