"""Issue 18 goal 1 (the SDK's hot path): the shortcuts taken for speed give the same
answers as the general code they stand in front of."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from sarvanom_sdk.errors import (
    BadResponseError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderTimeout,
)
from sarvanom_sdk.http import HttpCall, HttpReply
from sarvanom_sdk.providers.base import clean_text
from sarvanom_sdk.routing import quota_exhausted_for
from sarvanom_sdk.transports.headers import outgoing_headers
from sarvanom_sdk.types import LLMRequest, ProviderName


def test_issue18_an_adapters_shared_headers_are_checked_once_and_reused() -> None:
    shared = MappingProxyType({"Content-Type": "application/json", "Authorization": "Bearer k"})
    first = outgoing_headers(shared)
    assert outgoing_headers(shared) is first
    assert first == outgoing_headers(dict(shared))  # the general path gives the same
    assert first["Accept-Encoding"] == "gzip, deflate"


def test_issue18_a_plain_dict_of_headers_is_checked_on_every_call() -> None:
    headers = {"X-Key": "ok"}
    assert outgoing_headers(headers) is not outgoing_headers(headers)
    headers["X-Key"] = "bad\nvalue"
    with pytest.raises(ProviderConnectionError):
        outgoing_headers(headers)


def test_issue18_unsendable_shared_headers_raise_every_time() -> None:
    shared = MappingProxyType({"Authorization": "Bearer k\u2011ey"})
    for _ in range(2):  # a refusal is never remembered as checked
        with pytest.raises(ProviderConnectionError):
            outgoing_headers(shared)


def test_issue18_body_bytes_is_compact_utf8_and_escapes_a_lone_surrogate() -> None:
    assert HttpCall("POST", "u", json={"a": "é", "b": [1, 2]}).body_bytes() == (
        '{"a":"é","b":[1,2]}'.encode()
    )
    assert HttpCall("POST", "u", json={"a": "\ud83d"}).body_bytes() == b'{"a":"\\ud83d"}'
    assert HttpCall("GET", "u").body_bytes() is None


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"", "application/json", "empty body"),
        (b" \r\n\t", "application/json", "empty body"),
        (b"  <html>", "application/json", "HTML"),
        (b"<!doctype html>", "application/json", "HTML"),
        (b'{"a": 1}', "text/html", "HTML"),
        (b"\n{bad", "application/json", "malformed JSON"),
    ],
)
def test_issue18_reply_json_refuses_what_it_refused_before(
    body: bytes, content_type: str, error: str
) -> None:
    with pytest.raises(BadResponseError, match=error):
        HttpReply(200, {"content-type": content_type}, body).json("p")


def test_issue18_reply_json_reads_json_after_leading_whitespace() -> None:
    assert HttpReply(200, {}, b' \n{"a": 1}').json() == {"a": 1}


def test_issue18_quota_headers_without_a_reset_cost_no_clock_read() -> None:
    def clock():  # pragma: no cover - must not be called
        raise AssertionError("the clock was read")

    assert quota_exhausted_for({"content-type": "application/json"}, 200, clock) is None
    assert quota_exhausted_for({"x-ratelimit-remaining": "0"}, 200, clock) is None


def test_issue18_text_checks_keep_refusing_lone_surrogates() -> None:
    assert clean_text("plain ascii") == "plain ascii"
    assert clean_text("caf\u00e9") == "caf\u00e9"
    assert clean_text("half \ud83d") == "half \ufffd"
    with pytest.raises(InvalidRequestError, match="surrogate"):
        LLMRequest(prompt="half \ud83d")
    for blank in ("", "   ", "\n\t"):
        with pytest.raises(InvalidRequestError, match="prompt"):
            LLMRequest(prompt=blank)


def test_issue18_provider_names_parse_the_same_way_with_the_lookup() -> None:
    assert LLMRequest(prompt="x", provider="ollama_local").provider is ProviderName.OLLAMA_LOCAL
    assert LLMRequest(prompt="x", provider=" Remote_GPU ").provider is ProviderName.REMOTE_GPU
    with pytest.raises(InvalidRequestError, match="unknown provider"):
        LLMRequest(prompt="x", provider="nope")


def test_issue18_the_async_transports_limit_is_exact_and_never_rounded_up() -> None:
    """aiohttp rounds a timeout of 5 s or more up to the next whole second of loop time
    (``ceil_threshold``); the SDK's deadline must not grow by up to a second."""
    import aiohttp

    from sarvanom_sdk.transports.aiohttp_transport import AiohttpTransport

    transport = AiohttpTransport(connect_timeout=2.0)
    transport._aiohttp = aiohttp
    first = transport._limit_for(0.0, 15.0)
    assert (first.total, first.sock_connect, first.connect) == (15.0, 2.0, None)
    assert first.ceil_threshold > 10**9
    assert transport._limit_for(0.0, 15.0) is first  # made once per value
    with pytest.raises(ProviderTimeout):  # a second try with no time left
        transport._loop = type("Loop", (), {"time": staticmethod(lambda: 1.0)})()
        transport._limit_for(0.5)
