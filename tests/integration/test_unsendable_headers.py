"""Issue 12, F18 (the transports' side): a header value HTTP cannot carry — a character
outside ASCII (a pasted U+2011 hyphen), or a control character (CR/LF injection, NUL, DEL)
— is a ``ProviderConnectionError`` from both transports, whose reason names the header and
never shows its value; nothing is sent. At commit 44ee82a the sync transport raised
``UnicodeEncodeError`` and the async one ``ValueError`` (or sent UTF-8).

The configuration refuses such keys before this point; these tests build the adapter (or
the HttpCall) directly, as a caller-supplied adapter or transport would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from sarvanom_sdk import LLMRequest
from sarvanom_sdk.errors import ProviderConnectionError
from sarvanom_sdk.http import HttpCall
from sarvanom_sdk.providers.openai import OpenAIAdapter
from sarvanom_sdk.testing import ProviderEmulator
from sarvanom_sdk.transports.aiohttp_transport import AiohttpTransport
from sarvanom_sdk.transports.requests_transport import RequestsTransport

SECRET = "sk-f18secret"
BAD_KEYS = {
    "non-latin-1 hyphen": f"{SECRET}\u2011pasted",
    "latin-1 but not ascii": f"{SECRET}\u00e9",
    "cr lf injection": f"{SECRET}\r\nX-Injected: 1",
    "nul": f"{SECRET}\x00",
    "del": f"{SECRET}\x7f",
    "escape": f"{SECRET}\x1b[0m",
}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as made:
        yield made


def send(kind: str, call: HttpCall) -> object:
    if kind == "sync":
        transport = RequestsTransport()
        try:
            return transport.send(call, 10)
        finally:
            transport.close()

    async def go() -> object:
        transport = AiohttpTransport()
        try:
            return await transport.send(call, 10)
        finally:
            await transport.close()

    return asyncio.run(go())


@pytest.mark.parametrize("bad", list(BAD_KEYS))
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_f18_unsendable_key_is_a_provider_failure_that_hides_the_key(emu, kind, bad):
    adapter = OpenAIAdapter(
        base_url=emu.url_for("openai"), api_key=BAD_KEYS[bad], default_model="gpt-4o-mini"
    )
    call = adapter.build(LLMRequest(prompt="hi"))
    before = emu.request_count("openai")
    with pytest.raises(ProviderConnectionError) as caught:
        send(kind, call)
    reason = str(caught.value)
    assert "authorization" in reason.lower()
    assert SECRET not in reason and SECRET not in repr(caught.value)
    assert emu.request_count("openai") == before  # nothing went out


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_f18_a_good_key_still_goes_out(emu, kind):
    adapter = OpenAIAdapter(
        base_url=emu.url_for("openai"), api_key="sk-fine_KEY.0-9~", default_model="gpt-4o-mini"
    )
    reply = send(kind, adapter.build(LLMRequest(prompt="hi")))
    assert reply.status == 200


def test_f18_unsendable_header_name_is_refused():
    from sarvanom_sdk.transports.headers import outgoing_headers

    with pytest.raises(ProviderConnectionError, match="field name"):
        outgoing_headers({"X Bad: name": "v"})
