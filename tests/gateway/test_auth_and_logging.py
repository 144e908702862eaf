"""Bearer-token authentication and the access log."""

from __future__ import annotations

import logging

import pytest
from gateway_helpers import TOKEN, ollama_client, stub_client

from sarvanom_sdk import ConfigurationError
from sarvanom_sdk.gateway import create_app

PROTECTED = [
    ("GET", "/health/gpu-providers"),
    ("POST", "/api/query"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/sarvanom/auto"),
    ("GET", "/metrics"),
    ("GET", "/not-a-route"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Bearer wrong-token", "invalid_api_key"),
        (f"Bearer {TOKEN}x", "invalid_api_key"),
        (f"Basic {TOKEN}", "missing_token"),
        ("Bearer ", "missing_token"),
    ],
)
async def test_every_endpoint_but_health_needs_the_token(
    open_gateway, method, path, header, code
) -> None:
    client = await open_gateway(stub_client(), token=TOKEN)
    headers = {} if header is None else {"Authorization": header}
    reply = await client.request(method, path, headers=headers, json={"prompt": "hi"})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="sarvanom"'
    body = await reply.json()
    assert body["error"]["code"] == code
    assert TOKEN not in await reply.text()


async def test_the_right_token_opens_every_endpoint(open_gateway) -> None:
    client = await open_gateway(stub_client(), token=TOKEN)
    auth = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive
    assert (await client.get("/health/gpu-providers", headers=auth)).status == 200
    assert (await client.get("/v1/models", headers=auth)).status == 200
    assert (await client.get("/metrics", headers=auth)).status == 200
    reply = await client.post("/api/query", headers=auth, json={"prompt": "hi"})
    assert reply.status == 200
    assert (await client.get("/health")).status == 200


async def test_without_a_token_nothing_is_asked(open_gateway) -> None:
    client = await open_gateway(stub_client())
    assert (await client.get("/v1/models")).status == 200


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_refused(token) -> None:
    with pytest.raises(ConfigurationError, match="token"):
        create_app(stub_client(), token=token)


def test_client_and_settings_together_are_refused() -> None:
    from sarvanom_sdk import Settings

    with pytest.raises(ConfigurationError, match="not both"):
        create_app(stub_client(), settings=Settings())


async def test_access_log_has_no_prompt_token_or_key(open_gateway, emulator, caplog) -> None:
    secret_prompt = "my-private-prompt-8c1f"
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    caplog.set_level(logging.INFO, logger="sarvanom_sdk.gateway")
    await client.post(
        "/api/query",
        json={"prompt": secret_prompt},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "log-1"},
    )
    await client.post(
        "/v1/chat/completions",
        headers={"Authorization": "Bearer nope"},
        json={"model": "sarvanom/auto", "messages": [{"role": "user", "content": secret_prompt}]},
    )
    access = [r for r in caplog.records if r.name == "sarvanom_sdk.gateway"]
    assert len(access) == 2
    first = access[0]
    assert (first.http_method, first.path, first.status) == ("POST", "/api/query", 200)
    assert (first.trace_id, first.provider) == ("log-1", "ollama_local")
    assert first.duration_ms > 0
    assert access[1].status == 401
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert secret_prompt not in text
        assert TOKEN not in text
        assert "nope" not in text
