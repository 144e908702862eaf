"""F3: DNS rebinding and cross-site requests are refused, with and without a token."""

from __future__ import annotations

import pytest
from gateway_helpers import TOKEN, ollama_client, stub_client

from sarvanom_sdk import ConfigurationError
from sarvanom_sdk.gateway import Access

CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "hi"}]}
ROUTES = [
    ("GET", "/health", None),
    ("GET", "/health/gpu-providers", None),
    ("GET", "/v1/models", None),
    ("GET", "/metrics", None),
    ("POST", "/api/query", {"prompt": "hi"}),
    ("POST", "/v1/chat/completions", CHAT),
]


def _error(body: dict) -> dict:
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "", "a:b:c"]
)
async def test_f3_a_foreign_host_is_refused(
    open_gateway, emulator, token, method, path, body, host
) -> None:
    client = await open_gateway(ollama_client(emulator), token=token)
    auth = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    reply = await client.request(method, path, json=body, headers={"Host": host, **auth})
    assert reply.status == 403
    error = _error(await reply.json())
    assert error["code"] == "host_not_allowed"
    assert "--allowed-host" in error["message"]
    assert emulator.request_count() == 0


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:{port}", "127.0.0.1:{port}", "[::1]"])
async def test_f3_loopback_names_are_served(open_gateway, host) -> None:
    client = await open_gateway(stub_client())
    reply = await client.get("/v1/models", headers={"Host": host.format(port=client.server.port)})
    assert reply.status == 200


async def test_f3_a_loopback_name_on_another_port_is_refused(open_gateway) -> None:
    client = await open_gateway(stub_client())
    other = client.server.port + 1 if client.server.port < 65535 else 1
    reply = await client.get("/v1/models", headers={"Host": f"localhost:{other}"})
    assert reply.status == 403


async def test_f3_the_allow_list_admits_a_proxy_name(open_gateway) -> None:
    client = await open_gateway(
        stub_client(), access=Access(allowed_hosts=("gateway.example.com",))
    )
    for host in ("gateway.example.com", "Gateway.Example.com:443"):
        assert (await client.get("/v1/models", headers={"Host": host})).status == 200
    assert (await client.get("/v1/models", headers={"Host": "other.example"})).status == 403
    anything = await open_gateway(stub_client(), access=Access(allowed_hosts=("*",)))
    assert (await anything.get("/v1/models", headers={"Host": "x.example"})).status == 200


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
@pytest.mark.parametrize(
    ("path", "body"), [("/api/query", {"prompt": "hi"}), ("/v1/chat/completions", CHAT)]
)
async def test_f3_post_bodies_must_be_json(
    open_gateway, emulator, token, content_type, path, body
) -> None:
    import json

    client = await open_gateway(ollama_client(emulator), token=token)
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    reply = await client.post(path, data=json.dumps(body).encode(), headers=headers)
    assert reply.status == 415
    assert _error(await reply.json())["code"] == "unsupported_media_type"
    assert emulator.request_count() == 0
    ok = await client.post(
        path,
        data=json.dumps(body),
        headers={**headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status == 200


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("origin", ["https://attacker.example", "null", "http://localhost:1"])
async def test_f3_a_foreign_origin_is_refused(open_gateway, emulator, token, origin) -> None:
    client = await open_gateway(ollama_client(emulator), token=token)
    auth = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    for method, path, body in ROUTES:
        reply = await client.request(method, path, json=body, headers={"Origin": origin, **auth})
        assert reply.status == 403, path
        assert _error(await reply.json())["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in reply.headers
    preflight = await client.options(
        "/v1/chat/completions",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 403
    assert emulator.request_count() == 0


async def test_f3_the_gateway_s_own_origin_is_served(open_gateway) -> None:
    client = await open_gateway(stub_client())
    origin = f"http://127.0.0.1:{client.server.port}"
    reply = await client.post("/api/query", json={"prompt": "hi"}, headers={"Origin": origin})
    assert reply.status == 200
    assert "Access-Control-Allow-Origin" not in reply.headers


async def test_f3_an_allowed_origin_gets_cors_answers(open_gateway) -> None:
    origin = "https://app.example.com"
    client = await open_gateway(
        stub_client(), token=TOKEN, access=Access(cors_origins=(origin + "/",))
    )
    preflight = await client.options(
        "/v1/chat/completions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )  # a preflight carries no credentials: answered before authentication
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]
    odd = await client.options(
        "/v1/chat/completions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-evil",
        },
    )
    assert odd.status == 403
    auth = {"Authorization": f"Bearer {TOKEN}", "Origin": origin}
    reply = await client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == origin
    assert "x-sarvanom-provider" in reply.headers["Access-Control-Expose-Headers"]
    denied = await client.post("/v1/chat/completions", json=CHAT, headers={"Origin": origin})
    assert denied.status == 401  # CORS opens the door to a browser, not past the token
    assert denied.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "options",
    [{"allowed_hosts": "a.example"}, {"allowed_hosts": ("",)}, {"cors_origins": ("app.example",)}],
)
def test_f3_access_settings_are_validated(options) -> None:
    with pytest.raises(ConfigurationError):
        Access(**options)
