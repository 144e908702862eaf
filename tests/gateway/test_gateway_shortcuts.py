"""Issue 18 goal 2: the request path's shortcuts keep every check they shortcut.

A body is walked for lone surrogates (F12) only when its text may hold one; these bodies
may, by every way a surrogate can get in, and must still be refused naming the field."""

from __future__ import annotations

import codecs
import logging

import pytest
from gateway_helpers import JSON_TYPE, ollama_client

# fmt: off
SURROGATE_BODIES = [
    # a surrogate encoded in UTF-8 itself (ED A0 80): json.loads lets it through
    b'{"prompt": "half \xed\xa0\x80 a surrogate"}',
    # a UTF-16 body holding a lone code unit
    codecs.BOM_UTF16_LE + '{"prompt": "x\ud800y"}'.encode("utf-16-le", "surrogatepass"),
    '{"prompt": "x\ud800y"}'.encode("utf-16-be", "surrogatepass"),
    # an escape in upper case, after an escaped backslash and an emoji pair
    b'{"prompt": "\\\\ \\ud83d\\ude00 \\uDBFF"}',
]
# fmt: on


@pytest.mark.parametrize("body", SURROGATE_BODIES)
async def test_f12_issue18_every_way_in_for_a_surrogate_is_still_refused(
    open_gateway, emulator, caplog, body
) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post("/api/query", data=body, headers=JSON_TYPE)
    assert reply.status == 400, await reply.text()
    error = (await reply.json())["error"]
    assert error["param"] == "prompt" and "surrogate" in error["message"]
    assert emulator.request_count() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "body",
    [
        '{"prompt": "é ünïcode 😀 \\u00e9 \\\\ud800 (an escaped backslash)"}'.encode(),
        codecs.BOM_UTF8 + b'{"prompt": "with a BOM"}',
        '{"prompt": "utf-16 \u00e9"}'.encode("utf-16"),
    ],
)
async def test_issue18_bodies_without_a_lone_surrogate_pass(open_gateway, emulator, body) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post("/api/query", data=body, headers=JSON_TYPE)
    assert reply.status == 200, await reply.text()


def test_f3_issue18_a_remembered_host_is_remembered_only_for_its_own_address() -> None:
    """Host verdicts are remembered per (Host, local address): the same Host on another
    port is still refused, a refused Host is never remembered, and the memory is bounded
    whatever Host values callers send."""
    from sarvanom_sdk.gateway.access import _KNOWN_HOSTS, Access
    from sarvanom_sdk.gateway.limits import GatewayError

    access = Access()
    access.check_host("localhost:8000", ("127.0.0.1", 8000))
    access.check_host("localhost:8000", ("127.0.0.1", 8000))  # remembered
    with pytest.raises(GatewayError) as refused:
        access.check_host("localhost:8000", ("127.0.0.1", 9000))
    assert refused.value.code == "host_not_allowed"
    for _ in range(2):
        with pytest.raises(GatewayError):
            access.check_host("rebound.example:8000", ("127.0.0.1", 8000))
    for i in range(_KNOWN_HOSTS + 50):
        access.check_host(f"127.0.{i // 250}.{i % 250 + 1}:8000", ("127.0.0.1", 8000))
    assert len(access._known) == _KNOWN_HOSTS
    with pytest.raises(GatewayError):
        access.check_host("rebound.example", ("127.0.0.1", 8000))
