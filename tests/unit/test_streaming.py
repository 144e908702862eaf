"""The stream framers (LineSplitter, SSEDecoder, NDJSONDecoder): the same items whatever
the chunking of the bytes."""

from __future__ import annotations

import json

import adapter_helpers as h
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sarvanom_sdk.errors import BadResponseError
from sarvanom_sdk.streaming import LineSplitter, NDJSONDecoder, SSEDecoder, SSEEvent


def lines_of(chunks: list[bytes]) -> list[bytes]:
    splitter = LineSplitter()
    out = [line for chunk in chunks for line in splitter.feed(chunk)]
    rest = splitter.flush()
    return out + ([rest] if rest else [])


def sse_of(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.flush()


def ndjson_of(chunks: list[bytes]) -> list[object]:
    decoder = NDJSONDecoder("p")
    return [v for chunk in chunks for v in decoder.feed(chunk)] + decoder.flush()


MIXED_ENDINGS = b"alpha\nbeta\r\ngamma\rdelta\r\n\r\nepsilon"
MIXED_LINES = [b"alpha", b"beta", b"gamma", b"delta", b"", b"epsilon"]


# -- LineSplitter ----------------------------------------------------------------------------


@given(
    st.lists(st.sampled_from([b"a", b"b", b"\n", b"\r", b"\r\n", b"\xc3\xa9"]), max_size=60),
    st.lists(st.integers(0, 200)),
)
def test_lines_match_splitlines_for_any_input_and_split(
    parts: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(parts)
    expected = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert lines_of(h.split(data, cuts)) == expected


def test_crlf_split_between_reads_is_one_line_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r") == [b"one"]
    assert splitter.feed(b"\ntwo\n") == [b"two"]


def test_crlf_split_survives_an_empty_read() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r") == [b"one"]
    assert splitter.feed(b"") == []
    assert splitter.feed(b"\n") == []
    assert splitter.feed(b"two\n") == [b"two"]


def test_lone_cr_ends_a_line() -> None:
    assert lines_of([b"a\rb\r", b"c"]) == [b"a", b"b", b"c"]


def test_two_crs_are_two_line_ends() -> None:
    assert lines_of([b"a\r", b"\r", b"b\n"]) == [b"a", b"", b"b"]


def test_flush_returns_the_unterminated_rest_once() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"done\npartial") == [b"done"]
    assert splitter.flush() == b"partial"
    assert splitter.flush() == b""


def test_a_5_mb_line_in_small_reads_is_one_line() -> None:
    line = b"x" * (5 * 1024 * 1024)
    chunks = [line[i : i + 4096] for i in range(0, len(line), 4096)] + [b"\r", b"\nnext\n"]
    assert lines_of(chunks) == [line, b"next"]


def test_a_5_mb_line_with_a_cr_in_one_read() -> None:
    line = b"y" * (5 * 1024 * 1024)
    assert lines_of([line + b"\r\n"]) == [line]


# -- SSEDecoder ------------------------------------------------------------------------------

SSE_STREAM = (
    b": keep-alive comment\n"
    b"\n"
    b"event: greeting\r\n"
    b"id: 7\r\n"
    b"data: first line\r\n"
    b"data: second line \xe2\x9c\x93\r\n"
    b"\r\n"
    b":\n"
    b'data:{"n": 1}\n'
    b"retry: 1000\n"
    b"\n"
    b"data: caf\xc3\xa9 \xf0\x9f\x98\x80\r"
    b"\r"
)
SSE_EVENTS = [
    SSEEvent("greeting", "first line\nsecond line \u2713", "7"),
    SSEEvent(None, '{"n": 1}', "7"),
    SSEEvent(None, "caf\u00e9 \U0001f600", "7"),
]


def test_sse_comments_and_keepalives_dispatch_nothing() -> None:
    assert sse_of([b": ping\n\n:\n\n\n\n"]) == []


def test_sse_event_without_data_is_not_dispatched() -> None:
    assert sse_of([b"event: ping\n\ndata: x\n\n"]) == [SSEEvent(None, "x")]


def test_sse_empty_data_line_dispatches_empty_data() -> None:
    assert sse_of([b"data:\n\n"]) == [SSEEvent(None, "")]


def test_sse_only_one_leading_space_is_stripped() -> None:
    assert sse_of([b"data:  two spaces\n\n"]) == [SSEEvent(None, " two spaces")]


def test_sse_field_without_colon_is_a_field_with_empty_value() -> None:
    assert sse_of([b"data\ndata\n\n"]) == [SSEEvent(None, "\n")]


def test_sse_leading_bom_is_dropped_even_when_split() -> None:
    data = b"\xef\xbb\xbfdata: x\n\n"
    assert sse_of(h.bytewise(data)) == [SSEEvent(None, "x")]


def test_sse_flush_dispatches_an_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.flush() == [SSEEvent(None, "[DONE]")]


def test_sse_flush_after_a_complete_event_adds_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [SSEEvent(None, "a")]
    assert decoder.flush() == []


def test_sse_flush_after_a_trailing_cr() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.flush() == [SSEEvent(None, "a")]


def test_sse_event_name_does_not_leak_into_the_next_event() -> None:
    events = sse_of([b"event: a\ndata: 1\n\ndata: 2\n\n"])
    assert events == [SSEEvent("a", "1"), SSEEvent(None, "2")]


def test_sse_a_5_mb_data_line() -> None:
    payload = "z" * (5 * 1024 * 1024)
    data = b"data: " + payload.encode() + b"\n\n"
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    assert sse_of(chunks) == [SSEEvent(None, payload)]


def test_sse_invalid_utf8_is_replaced_not_raised() -> None:
    assert sse_of([b"data: \xff\n\n"]) == [SSEEvent(None, "\ufffd")]


# -- NDJSONDecoder ---------------------------------------------------------------------------

NDJSON_VALUES: list[object] = [
    {"a": 1},
    {"text": "caf\u00e9 \U0001f600"},
    [1, 2],
    "s",
    {"done": True},
]
NDJSON_STREAM = (
    json.dumps(NDJSON_VALUES[0]).encode()
    + b"\r\n\n"
    + json.dumps(NDJSON_VALUES[1], ensure_ascii=False).encode()
    + b"\r"
    + b"   \n"
    + json.dumps(NDJSON_VALUES[2]).encode()
    + b"\n"
    + json.dumps(NDJSON_VALUES[3]).encode()
    + b"\n"
    + json.dumps(NDJSON_VALUES[4]).encode()
)


def test_ndjson_flush_parses_an_unterminated_last_line() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"x": 1}') == []
    assert decoder.flush() == [{"x": 1}]
    assert decoder.flush() == []


def test_ndjson_malformed_line_raises_bad_response() -> None:
    decoder = NDJSONDecoder("ollama_local")
    with pytest.raises(BadResponseError) as info:
        decoder.feed(b"<html>tunnel page</html>\n")
    assert info.value.provider == "ollama_local"
    assert "<html>" in str(info.value)


def test_ndjson_cut_last_line_raises_at_flush() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'{"message": {"content": "cut')
    with pytest.raises(BadResponseError):
        decoder.flush()


def test_ndjson_error_excerpt_hides_secrets() -> None:
    decoder = NDJSONDecoder("p", secrets=("tok-9f8e7d",))
    with pytest.raises(BadResponseError) as info:
        decoder.feed(b"not json tok-9f8e7d sk-abcdefghijk\n")
    assert "tok-9f8e7d" not in str(info.value)
    assert "sk-abcdefghijk" not in str(info.value)


def test_ndjson_a_5_mb_line() -> None:
    value = {"content": "q" * (5 * 1024 * 1024)}
    data = json.dumps(value).encode() + b"\n"
    chunks = [data[i : i + 8192] for i in range(0, len(data), 8192)]
    assert ndjson_of(chunks) == [value]


# -- every framer: the same items whatever the chunking ---------------------------------------

FRAMERS = {
    "lines": (lines_of, MIXED_ENDINGS, MIXED_LINES),
    "sse": (sse_of, SSE_STREAM, SSE_EVENTS),
    "ndjson": (ndjson_of, NDJSON_STREAM, NDJSON_VALUES),
}


@pytest.mark.parametrize("name", FRAMERS)
def test_whole(name: str) -> None:
    run, data, expected = FRAMERS[name]
    assert run([data]) == expected


@pytest.mark.parametrize("name", FRAMERS)
def test_byte_by_byte_splits_crlf_and_multibyte_characters(name: str) -> None:
    run, data, expected = FRAMERS[name]
    assert run(h.bytewise(data)) == expected


@pytest.mark.parametrize("name", FRAMERS)
@settings(max_examples=200)
@given(draw=st.data())
def test_any_split(name: str, draw: st.DataObject) -> None:
    run, data, expected = FRAMERS[name]
    cuts = draw.draw(st.lists(st.integers(0, len(data))))
    assert run(h.split(data, cuts)) == expected
