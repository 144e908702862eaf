"""``POST /api/query``: the seed's endpoint, its validation, limits and the trace id."""

from __future__ import annotations

import re

import pytest
from gateway_helpers import JSON_TYPE, ollama_client, stub_client

from sarvanom_sdk.gateway import Limits

HEX32 = re.compile(r"[0-9a-f]{32}\Z")


def assert_error(body: dict, code: str, param: str | None = None) -> str:
    """OpenAI's error shape; returns the message."""
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["param"] == param
    assert isinstance(error["message"], str) and error["message"]
    return error["message"]


async def test_answer_through_the_emulator(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post(
        "/api/query",
        json={"prompt": "What is the capital of France?", "max_tokens": 100, "temperature": 0},
    )
    assert reply.status == 200
    assert reply.headers["x-sarvanom-provider"] == "ollama_local"
    assert reply.headers["x-sarvanom-cache"] == "miss"
    body = await reply.json()
    assert body["success"] is True
    assert body["provider"] == "ollama_local"
    assert body["content"] == "Emulated ollama answer to: What is the capital of France?"
    assert body["usage"]["total_tokens"] > 0
    assert [a["provider"] for a in body["attempts"]] == ["ollama_local"]
    sent = emulator.requests("ollama")[-1].json
    assert sent["options"]["num_predict"] == 100
    assert sent["options"]["temperature"] == 0

    again = await client.post(
        "/api/query",
        json={"prompt": "What is the capital of France?", "max_tokens": 100, "temperature": 0},
    )
    assert again.headers["x-sarvanom-cache"] == "hit"
    assert emulator.request_count("ollama") == 1


async def test_messages_system_and_pin(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post(
        "/api/query",
        json={
            "messages": [{"role": "user", "content": "Hi"}],
            "system": "Be brief",
            "provider": "ollama_local",
            "model": "llama3.2:1b",
            "cache": False,
        },
    )
    assert reply.status == 200
    sent = emulator.requests("ollama")[-1].json
    assert sent["model"] == "llama3.2:1b"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief"}


async def test_stub_answer_is_200_with_success_false(open_gateway) -> None:
    client = await open_gateway(stub_client())
    reply = await client.post("/api/query", json={"prompt": "hi"})
    assert reply.status == 200
    assert reply.headers["x-sarvanom-provider"] == "local_stub"
    body = await reply.json()
    assert body["success"] is False
    assert body["content"].startswith("[sarvanom local_stub]")


async def test_strict_client_answers_503(open_gateway) -> None:
    client = await open_gateway(stub_client(fallback_to_stub=False))
    reply = await client.post("/api/query", json={"prompt": "hi"})
    assert reply.status == 503
    assert_error(await reply.json(), "no_provider_available")


async def test_request_id_round_trip(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post(
        "/api/query", json={"prompt": "hi"}, headers={"X-Request-ID": "req-42.abc"}
    )
    assert reply.headers["X-Request-ID"] == "req-42.abc"
    assert (await reply.json())["trace_id"] == "req-42.abc"


@pytest.mark.parametrize("given", [None, "has space", "x" * 129, "caf\u00e9"])
async def test_request_id_made_when_missing_or_unusable(open_gateway, given) -> None:
    client = await open_gateway(stub_client())
    headers = {} if given is None else {"X-Request-ID": given}
    reply = await client.post("/api/query", json={"prompt": "hi"}, headers=headers)
    made = reply.headers["X-Request-ID"]
    assert HEX32.match(made)
    assert (await reply.json())["trace_id"] == made


async def test_errors_carry_the_request_id_too(open_gateway) -> None:
    client = await open_gateway(stub_client())
    for reply in (
        await client.get("/nowhere", headers={"X-Request-ID": "r1"}),
        await client.post("/api/query", data=b"{", headers={"X-Request-ID": "r1", **JSON_TYPE}),
    ):
        assert reply.headers["X-Request-ID"] == "r1"


# fmt: off
@pytest.mark.parametrize(("body", "code", "param", "says"), [
    (b"{not json", "invalid_json", None, "malformed JSON"),
    (b"", "invalid_json", None, "empty"),
    (b"[1, 2]", "invalid_json", None, "JSON object"),
    (b"\xff\xfe\x00", "invalid_json", None, "malformed JSON"),
    (b'{"prompt": "hi", "max_tokens": "ten"}', "invalid_request", "max_tokens", "integer"),
    (b'{"prompt": "hi", "max_tokens": 0}', "invalid_request", "max_tokens", "between 1"),
    (b'{"prompt": "hi", "temperature": 3}', "invalid_request", "temperature", "between 0"),
    (b'{"prompt": "  "}', "invalid_request", "prompt", "non-empty"),
    (b'{"max_tokens": 5}', "invalid_request", "prompt", "exactly one"),
    (b'{"prompt": "hi", "messages": []}', "invalid_request", "prompt", "exactly one"),
    (b'{"messages": [{"role": "robot", "content": "x"}]}', "invalid_request",
     "messages[0].role", "unknown role"),
    (b'{"prompt": "hi", "provider": "nope"}', "invalid_request", "provider", "unknown provider"),
    (b'{"prompt": "hi", "model": "m"}', "invalid_request", "model", "provider pin"),
    (b'{"prompt": "hi", "promt": "typo"}', "invalid_request", "promt", "unknown field"),
    (b'{"prompt": "hi", "cache": "yes"}', "invalid_request", "cache", "true or false"),
    (b'{"prompt": "hi", "timeout": 3600}', "invalid_request", "timeout", "at most"),
    (b'{"prompt": "hi", "trace_id": "mine"}', "invalid_request", "trace_id", "unknown field"),
])
# fmt: on
async def test_bad_bodies_are_400_naming_the_problem(open_gateway, body, code, param, says) -> None:
    client = await open_gateway(stub_client())
    reply = await client.post("/api/query", data=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert says in assert_error(await reply.json(), code, param)


async def test_null_fields_mean_absent(open_gateway) -> None:
    client = await open_gateway(stub_client())
    reply = await client.post(
        "/api/query", json={"prompt": "hi", "max_tokens": None, "system": None}
    )
    assert reply.status == 200


async def test_oversized_body_is_413(open_gateway) -> None:
    client = await open_gateway(stub_client(), limits=Limits(max_body_bytes=2048))
    big = b'{"prompt": "' + b"a" * 4096 + b'"}'
    reply = await client.post("/api/query", data=big, headers=JSON_TYPE)
    assert reply.status == 413
    assert "2048 bytes" in assert_error(await reply.json(), "request_too_large")

    async def chunked():  # no Content-Length: the limit is enforced while reading
        yield big[:1000]
        yield big[1000:]

    reply = await client.post("/api/query", data=chunked(), headers=JSON_TYPE)
    assert reply.status == 413
    assert_error(await reply.json(), "request_too_large")


async def test_prompt_and_max_tokens_caps(open_gateway) -> None:
    client = await open_gateway(stub_client(), limits=Limits(max_prompt_chars=100, max_tokens=64))
    reply = await client.post("/api/query", json={"prompt": "a" * 101})
    assert reply.status == 400
    assert "100 characters" in assert_error(await reply.json(), "prompt_too_long", "prompt")
    reply = await client.post("/api/query", json={"prompt": "hi", "max_tokens": 65})
    assert reply.status == 400
    assert "at most 64" in assert_error(await reply.json(), "invalid_request", "max_tokens")
    ok = await client.post("/api/query", json={"prompt": "a" * 100, "max_tokens": 64})
    assert ok.status == 200


async def test_unknown_path_and_wrong_method(open_gateway) -> None:
    client = await open_gateway(stub_client())
    missing = await client.get("/api/nothing")
    assert missing.status == 404
    assert_error(await missing.json(), "not_found")
    wrong = await client.get("/api/query")
    assert wrong.status == 405
    assert "POST" in wrong.headers["Allow"]
    assert_error(await wrong.json(), "method_not_allowed")
