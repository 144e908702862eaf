"""AnthropicAdapter: golden calls, golden replies, every error shape, the event stream."""

from __future__ import annotations

import adapter_helpers as h
import pytest
from hypothesis import given

from sarvanom_sdk.errors import (
    BadResponseError,
    ClientRequestError,
    ContextLengthExceeded,
    ProviderConnectionError,
    RateLimited,
    ServerError,
)
from sarvanom_sdk.providers import AnthropicAdapter, ProviderAdapter
from sarvanom_sdk.providers.base import Completion
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.types import ProviderName, Usage

KEY = "test-anthropic-key-Pw4"
ADAPTER = AnthropicAdapter(
    base_url="https://api.anthropic.com",
    api_key=KEY,
    default_model="claude-3-5-haiku-20241022",
)

# From the Messages API reference (create a message, response).
GOLDEN_REPLY = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
}


def event(kind: str, **fields: object) -> tuple[str, dict[str, object]]:
    """One Messages stream event: the SSE event name repeats the data's ``type``."""
    return kind, {"type": kind, **fields}


def block_delta(index: int, kind: str, **fields: object) -> tuple[str, dict[str, object]]:
    return event("content_block_delta", index=index, delta={"type": kind, **fields})


MESSAGE_START = {
    "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
    "type": "message",
    "role": "assistant",
    "content": [],
    "model": "claude-3-5-haiku-20241022",
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 25, "output_tokens": 1},
}
# The event flow of the streaming guide, with a thinking block before the text.
STREAM = h.sse(
    event("message_start", message=MESSAGE_START),
    event("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
    block_delta(0, "thinking_delta", thinking="Greet \u2713."),
    block_delta(0, "signature_delta", signature="EqQB"),
    event("content_block_stop", index=0),
    event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
    event("ping"),
    block_delta(1, "text_delta", text="Hello"),
    block_delta(1, "text_delta", text=" w\u00f6rld \U0001f600"),
    event("content_block_stop", index=1),
    event(
        "message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},
        usage={"output_tokens": 15},
    ),
    event("message_stop"),
)


def error_body(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}}


# -- construction ----------------------------------------------------------------------------


def test_is_a_paid_provider_adapter() -> None:
    assert isinstance(ADAPTER, ProviderAdapter)
    assert (ADAPTER.name, ADAPTER.paid) == (ProviderName.ANTHROPIC, True)


def test_from_settings_reads_anthropic_fields() -> None:
    settings = Settings(
        anthropic_api_key=KEY,
        anthropic_model="claude-sonnet-4-5",
        anthropic_base_url="https://proxy.test/",
    )
    adapter = AnthropicAdapter.from_settings(settings)
    call = adapter.build(h.request())
    assert call.url == "https://proxy.test/v1/messages"
    assert h.call_body(call)["model"] == "claude-sonnet-4-5"
    assert adapter.secrets == (KEY,)


# -- golden calls ----------------------------------------------------------------------------


def test_golden_call() -> None:
    h.assert_golden_call(
        ADAPTER.build(h.request(prompt="Hello, Claude", max_tokens=1024, temperature=1.0)),
        "POST",
        "https://api.anthropic.com/v1/messages",
        {"x-api-key": KEY, "anthropic-version": "2023-06-01", "Content-Type": "application/json"},
        {
            "model": "claude-3-5-haiku-20241022",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Hello, Claude"}],
            "temperature": 1.0,
        },
    )


def test_system_texts_go_to_the_top_level_system_string() -> None:
    body = h.call_body(ADAPTER.build(h.request(messages=h.CHAT, system="You are Sarvan.")))
    assert body["system"] == "You are Sarvan.\n\nBe brief."
    assert body["messages"] == [m for m in h.CHAT if m["role"] != "system"]


def test_stream_call_sets_stream() -> None:
    assert h.call_body(ADAPTER.build(h.request(), stream=True))["stream"] is True


def test_temperature_is_capped_at_one() -> None:
    assert h.call_body(ADAPTER.build(h.request(temperature=1.7)))["temperature"] == 1.0


def test_health_call_lists_models_with_key_headers() -> None:
    call = ADAPTER.health_call()
    assert (call.method, call.url, call.json) == (
        "GET",
        "https://api.anthropic.com/v1/models",
        None,
    )
    assert call.headers["anthropic-version"] == "2023-06-01"
    h.assert_key_only_in(call, KEY, "x-api-key")


# -- golden replies --------------------------------------------------------------------------


def test_golden_reply() -> None:
    assert ADAPTER.parse(h.reply(200, GOLDEN_REPLY)) == Completion(
        content="Hi! My name is Claude.",
        model="claude-3-5-haiku-20241022",
        usage=Usage(2095, 503),
        finish_reason="stop",
    )


def test_text_blocks_are_joined_and_thinking_kept_apart() -> None:
    body = {
        **GOLDEN_REPLY,
        "content": [
            {"type": "thinking", "thinking": "Let me add.", "signature": "EqQB"},
            {"type": "text", "text": "2+2 "},
            {"type": "tool_use", "id": "t", "name": "calc", "input": {}},
            {"type": "text", "text": "is 4."},
        ],
    }
    completion = ADAPTER.parse(h.reply(200, body))
    assert (completion.content, completion.reasoning) == ("2+2 is 4.", "Let me add.")


def test_empty_content_list_is_an_empty_answer() -> None:
    body = {**GOLDEN_REPLY, "content": [], "stop_reason": "max_tokens"}
    assert ADAPTER.parse(h.reply(200, body)).content == ""


# -- error shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), h.STATUS_CASES)
def test_every_error_status_maps_to_its_class(status: int, cls: type) -> None:
    body = error_body("api_error", "Something broke")
    h.assert_status_maps(ADAPTER, status, cls, body, "api_error: Something broke")


def test_529_overloaded_is_server_error() -> None:
    error = h.assert_status_maps(
        ADAPTER, 529, ServerError, error_body("overloaded_error", "Overloaded")
    )
    assert "overloaded_error" in str(error)


@pytest.mark.parametrize(("headers", "seconds"), h.RETRY_CASES)
def test_429_carries_retry_after(headers: dict[str, str], seconds: float) -> None:
    body = error_body("rate_limit_error", "Number of request tokens has exceeded your rate limit")
    error = h.parse_error(ADAPTER, h.reply(429, body, headers))
    assert isinstance(error, RateLimited) and error.retry_after == seconds


@pytest.mark.parametrize("name", sorted(h.BAD_2XX_BODIES))
def test_bodies_that_are_not_answers(name: str) -> None:
    h.assert_bad_2xx(ADAPTER, name)


def test_error_object_with_200_is_bad_response() -> None:
    error = h.parse_error(ADAPTER, h.reply(200, error_body("api_error", "Internal server error")))
    assert type(error) is BadResponseError and "Internal server error" in str(error)


def test_message_without_content_is_bad_response() -> None:
    body = {k: v for k, v in GOLDEN_REPLY.items() if k != "content"}
    error = h.parse_error(ADAPTER, h.reply(200, body))
    assert type(error) is BadResponseError and "content" in str(error)


# -- keys ------------------------------------------------------------------------------------


def test_key_only_in_x_api_key_header() -> None:
    h.assert_key_placement(ADAPTER, KEY, "x-api-key")
    assert "Authorization" not in ADAPTER.build(h.request()).headers


def test_echoed_key_never_reaches_an_error_message() -> None:
    h.assert_echoed_key_hidden(ADAPTER, KEY)


def test_echoed_key_hidden_in_stream_error_events() -> None:
    data = h.sse(("error", error_body("authentication_error", f"invalid x-api-key {KEY}")))
    assert KEY not in str(h.stream_error(ADAPTER.stream_decoder, data))


# -- stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_stream_golden(how: str) -> None:
    streamed = h.streamed(ADAPTER.stream_decoder, h.stream_chunkings(STREAM)[how])
    assert streamed.text == "Hello w\u00f6rld \U0001f600"
    assert streamed.reasoning == "Greet \u2713."
    assert streamed.done.usage == Usage(25, 15)
    assert streamed.done.finish_reason == "stop"
    assert streamed.done.model == "claude-3-5-haiku-20241022"


@given(h.cut_points(STREAM))
def test_stream_any_split_gives_the_same_result(cuts: list[int]) -> None:
    h.assert_any_split_same(ADAPTER.stream_decoder, STREAM, cuts)


def test_stream_with_crlf_line_ends() -> None:
    data = STREAM.replace(b"\n", b"\r\n")
    assert h.streamed(ADAPTER.stream_decoder, [data]).text == "Hello w\u00f6rld \U0001f600"


def test_unknown_events_are_ignored() -> None:
    data = h.sse(("future_event", {"type": "future_event", "x": 1})) + STREAM
    assert h.streamed(ADAPTER.stream_decoder, [data]).done.usage == Usage(25, 15)


def test_cut_stream_raises_connection_error() -> None:
    error = h.stream_error(ADAPTER.stream_decoder, STREAM[: STREAM.index(b"event: message_delta")])
    assert isinstance(error, ProviderConnectionError)


def test_stream_cut_anywhere_before_its_stop_reason_raises() -> None:
    h.cut_everywhere(ADAPTER.stream_decoder, STREAM, b'"stop_reason": "end_turn"')


def test_item1_a_clean_end_after_the_stop_reason_is_complete_without_message_stop() -> None:
    result = h.streamed(ADAPTER.stream_decoder, [STREAM[: STREAM.index(b"event: message_stop")]])
    assert result.done.finish_reason == "stop"
    assert result.done.usage == Usage(25, 15)


def test_item6_7_refusal_and_context_length_bodies_are_typed() -> None:
    too_long = {"type": "error", "error": {"type": "invalid_request_error",
                "message": "prompt is too long: 210000 tokens > 200000 maximum"}}
    with pytest.raises(ContextLengthExceeded, match="prompt is too long"):
        ADAPTER.parse(h.reply(400, too_long))
    other = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    with pytest.raises(ClientRequestError) as info:
        ADAPTER.parse(h.reply(400, other))
    assert not isinstance(info.value, ContextLengthExceeded)
    refusal = {"type": "message", "content": [{"type": "text", "text": "I can't"}],
               "stop_reason": "refusal"}
    assert ADAPTER.parse(h.reply(200, refusal)).finish_reason == "content_filter"


OVERLOADED = h.sse(("error", error_body("overloaded_error", "Overloaded")))


def test_overloaded_error_event_is_server_error_529() -> None:
    error = h.stream_error(ADAPTER.stream_decoder, h.sse(("ping", {"type": "ping"})) + OVERLOADED)
    assert type(error) is ServerError and error.status == 529
    assert "Overloaded" in str(error)


def test_error_event_after_text_raises_after_the_text_was_delivered() -> None:
    decoder = ADAPTER.stream_decoder()
    head = STREAM[: STREAM.index(b"event: content_block_stop", STREAM.index(b"text_delta"))]
    assert "".join(e.text for e in decoder.feed(head)) == "Hello w\u00f6rld \U0001f600"
    with pytest.raises(ServerError):
        decoder.feed(OVERLOADED)


def test_rate_limit_error_event_is_rate_limited() -> None:
    error = h.stream_error(
        ADAPTER.stream_decoder, h.sse(("error", error_body("rate_limit_error", "slow down")))
    )
    assert type(error) is RateLimited and error.status == 429


def test_other_error_event_is_server_error() -> None:
    error = h.stream_error(
        ADAPTER.stream_decoder, h.sse(("error", error_body("api_error", "boom")))
    )
    assert type(error) is ServerError and "boom" in str(error)


def test_malformed_event_data_raises_bad_response() -> None:
    error = h.stream_error(ADAPTER.stream_decoder, b"event: content_block_delta\ndata: {oops\n\n")
    assert type(error) is BadResponseError
