"""F12, F13, F14, F19: parseable but hostile input is a clean 400, cannot forge log lines
or leak a token, and probe requests cannot amplify."""

from __future__ import annotations

import asyncio
import logging

import pytest
from gateway_helpers import (
    JSON_TYPE,
    TOKEN,
    gateway_of,
    ollama_client,
    raw_exchange,
    served,
    stub_client,
)

from sarvanom_sdk.gateway import Limits, create_app
from sarvanom_sdk.gateway.logsafe import ParserErrorFilter, shown

CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("path", ["/api/query", "/v1/chat/completions"])
async def test_f12_deep_nesting_is_400_invalid_json(open_gateway, caplog, path) -> None:
    client = await open_gateway(stub_client())
    body = b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = await client.post(path, data=body, headers=JSON_TYPE)
    assert reply.status == 400
    assert (await reply.json())["error"]["code"] == "invalid_json"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# fmt: off
@pytest.mark.parametrize(("path", "body", "param", "where"), [
    ("/api/query", b'{"prompt": "half \\ud83d an emoji"}', "prompt", "prompt"),
    ("/api/query", b'{"messages": [{"role": "user", "content": "\\udc00"}]}', "messages",
     "messages[0].content"),
    ("/api/query", b'{"prompt": "hi", "system": "\\ud800"}', "system", "system"),
    ("/v1/chat/completions",
     b'{"model": "sarvanom/auto", "messages": [{"role": "user", "content": "\\ud83d"}]}',
     "messages", "messages[0].content"),
])
# fmt: on
async def test_f12_a_lone_surrogate_is_400_naming_the_field(
    open_gateway, emulator, caplog, path, body, param, where
) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post(path, data=body, headers=JSON_TYPE)
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert error["param"] == param
    assert error["message"].startswith(f"{where}: ") and "surrogate" in error["message"]
    assert emulator.request_count() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_f12_a_surrogate_pair_is_fine(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post(
        "/api/query", data=b'{"prompt": "smile \\ud83d\\ude00"}', headers=JSON_TYPE
    )
    assert reply.status == 200
    assert emulator.requests("ollama")[-1].json["messages"][-1]["content"] == "smile \U0001f600"


def test_f13_shown_escapes_every_line_break() -> None:
    assert shown("/x\nforged\r\x1b[31m\u2028y\x85") == "/x\\x0aforged\\x0d\\x1b[31m\\u2028y\\x85"
    assert shown("a" * 300, 10) == "a" * 10 + "..."


async def test_f13_a_path_cannot_forge_an_access_log_line(open_gateway, caplog) -> None:
    client = await open_gateway(stub_client(), token=TOKEN)
    caplog.set_level(logging.INFO, logger="sarvanom_sdk.gateway")
    forged = "/x%0a2026-01-01 00:00:00,000 WARNING sarvanom_sdk.gateway token rotated%0d"
    reply = await client.get(forged)
    assert reply.status == 401
    (record,) = [r for r in caplog.records if r.name == "sarvanom_sdk.gateway"]
    line = record.getMessage()
    assert "\n" not in line and "\r" not in line
    assert "%0A2026-01-01" in line.upper() and record.path.upper().startswith("/X%0A")


async def test_f19_a_malformed_header_never_reaches_the_log_or_the_answer(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "gw-RealToken-0123456789abcdef"
    app = create_app(stub_client(), token=secret)
    async with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        reply = await raw_exchange(
            port,
            b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + secret.encode()
            + b"\x01\r\n\r\n",
        )
    assert reply.split(b" ", 2)[1] == b"400"
    assert secret.encode() not in reply
    logged = [f"{r.getMessage()} {r.exc_text or ''} {r.exc_info or ''}" for r in caplog.records]
    assert not [line for line in logged if secret in line]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_f19_the_filter_keeps_only_the_error_class() -> None:
    from aiohttp.http_exceptions import InvalidHeader

    try:
        raise InvalidHeader(b"Authorization: Bearer sk-secret-123456\x01")
    except InvalidHeader:
        import sys

        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, "x", 1, "Error handling request from %s",
            ("127.0.0.1",), sys.exc_info(),
        )
    assert ParserErrorFilter().filter(record)
    assert "sk-secret" not in record.getMessage()
    assert record.exc_info is None and record.levelno == logging.INFO


async def test_f14_concurrent_probes_share_one_fan_out_in_a_gate_slot(
    open_gateway, emulator
) -> None:
    client = await open_gateway(
        ollama_client(emulator), limits=Limits(max_in_flight=1, max_waiting=0, probe_ttl=60)
    )
    replies = await asyncio.gather(
        *(client.get("/health/gpu-providers?probe=true") for _ in range(40))
    )
    assert [r.status for r in replies] == [200] * 40
    assert emulator.request_count("ollama", endpoint="probe") == 1
    again = await client.get("/health/gpu-providers?probe=true")  # within probe_ttl
    assert again.status == 200
    assert emulator.request_count("ollama", endpoint="probe") == 1
    assert gateway_of(client).gate.admitted == 0


async def test_f14_a_probe_takes_a_gate_slot(open_gateway, emulator) -> None:
    from sarvanom_sdk.testing import Fault

    emulator.inject("ollama", Fault.delay(2.0), endpoint="generate")
    client = await open_gateway(
        ollama_client(emulator), limits=Limits(max_in_flight=1, max_waiting=0)
    )
    gate = gateway_of(client).gate
    busy = asyncio.ensure_future(client.post("/api/query", json={"prompt": "hi"}))
    from gateway_helpers import wait_until

    await wait_until(lambda: gate.in_flight == 1)
    probe = await client.get("/health/gpu-providers?probe=true")
    assert probe.status == 503
    assert emulator.request_count("ollama", endpoint="probe") == 0
    assert (await busy).status == 200


@pytest.mark.parametrize("path", ["/api/query", "/v1/chat/completions"])
async def test_f12_an_sdk_invalid_request_error_is_400_naming_the_field(
    open_gateway, caplog, path
) -> None:
    """Whatever the SDK refuses inside complete()/stream() (e.g. its own surrogate or
    model-name checks) is a 400 naming the field, never a 500."""
    from sarvanom_sdk import InvalidRequestError

    sdk_client = stub_client()

    async def refuse(*args, **kwargs):
        raise InvalidRequestError("messages[0].content", "holds a lone surrogate")

    sdk_client.complete = refuse  # type: ignore[method-assign]
    client = await open_gateway(sdk_client)
    body = {"prompt": "hi"} if path == "/api/query" else CHAT
    reply = await client.post(path, json=body)
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert error["param"] == "messages[0].content" and "surrogate" in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_f7_an_emfile_flood_is_one_line_per_interval() -> None:
    from sarvanom_sdk.gateway.logsafe import ResourceErrorFilter

    flood = ResourceErrorFilter(every=60)
    records = []
    for _ in range(500):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            import sys

            records.append(
                logging.LogRecord(
                    "asyncio", logging.ERROR, "x", 1, "socket.accept() out of system resource",
                    (), sys.exc_info(),
                )
            )
    kept = [r for r in records if flood.filter(r)]
    assert len(kept) == 1 and kept[0].exc_info is None
    assert "--max-connections" in kept[0].getMessage()
    other = logging.LogRecord("asyncio", logging.ERROR, "x", 1, "something else", (), None)
    assert flood.filter(other)
