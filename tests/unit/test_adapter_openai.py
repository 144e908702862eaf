"""OpenAIAdapter: golden calls, golden replies, every error shape, the SSE stream."""

from __future__ import annotations

from pathlib import Path

import adapter_helpers as h
import pytest
from hypothesis import given

from sarvanom_sdk.errors import (
    BadResponseError,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequestError,
    ProviderConnectionError,
    RateLimited,
    ServerError,
)
from sarvanom_sdk.providers import (
    AnthropicAdapter,
    HuggingFaceAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    ProviderAdapter,
    RemoteGPUAdapter,
    adapter_for,
)
from sarvanom_sdk.providers.base import Completion
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.types import ProviderName, Usage

KEY = "test-openai-key-7Hq2"  # not key-shaped: only the adapter's own redaction hides it
ADAPTER = OpenAIAdapter(
    name=ProviderName.OPENAI,
    base_url="https://api.openai.com/v1",
    api_key=KEY,
    default_model="gpt-4o-mini",
    paid=True,
)

# From the Chat Completions reference (create chat completion, response).
GOLDEN_REPLY = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! How can I assist you today?",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_06737a9306",
}


def chunk(
    delta: dict[str, object], finish: str | None = None, **extra: object
) -> dict[str, object]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


USAGE_CHUNK = {
    "id": "chatcmpl-123",
    "object": "chat.completion.chunk",
    "created": 1694268190,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}

STREAM = h.sse(
    (None, chunk({"role": "assistant", "content": ""}, usage=None)),
    (None, chunk({"reasoning_content": "Think \u2713. "}, usage=None)),
    (None, chunk({"content": "Hello"}, usage=None)),
    (None, chunk({"content": " w\u00f6rld \U0001f600"}, usage=None)),
    (None, chunk({}, "stop", usage=None)),
    (None, USAGE_CHUNK),
    (None, "[DONE]"),
)
STREAM_TEXT = "Hello w\u00f6rld \U0001f600"


# -- construction ----------------------------------------------------------------------------


def test_is_a_provider_adapter() -> None:
    assert isinstance(ADAPTER, ProviderAdapter)
    assert (ADAPTER.name, ADAPTER.paid, ADAPTER.default_model) == (
        ProviderName.OPENAI,
        True,
        "gpt-4o-mini",
    )


def test_from_settings_reads_openai_fields() -> None:
    settings = Settings(
        openai_api_key=KEY, openai_model="gpt-4.1-nano", openai_base_url="https://x.test/v1/"
    )
    adapter = OpenAIAdapter.from_settings(settings)
    call = adapter.build(h.request())
    assert call.url == "https://x.test/v1/chat/completions"
    assert h.call_body(call)["model"] == "gpt-4.1-nano"
    assert adapter.paid and adapter.secrets == (KEY,)


# -- golden calls ----------------------------------------------------------------------------


def test_golden_prompt_call() -> None:
    h.assert_golden_call(
        ADAPTER.build(h.request(prompt="Hi there", system="Be brief.", max_tokens=100)),
        "POST",
        "https://api.openai.com/v1/chat/completions",
        {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi there"},
            ],
            "max_tokens": 100,
            "temperature": 0.5,
        },
    )


def test_golden_stream_call_asks_for_usage() -> None:
    body = h.call_body(ADAPTER.build(h.request(), stream=True))
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_messages_keep_their_order_and_roles() -> None:
    body = h.call_body(ADAPTER.build(h.request(messages=h.CHAT, model="gpt-4o", provider="openai")))
    assert body["messages"] == list(h.CHAT)
    assert body["model"] == "gpt-4o"


def test_no_key_means_no_authorization_header() -> None:
    adapter = OpenAIAdapter(base_url="http://127.0.0.1:8000/v1", default_model="m", paid=False)
    call = adapter.build(h.request())
    assert "Authorization" not in call.headers
    assert call.secrets == ()


def test_extra_headers_are_sent_but_cannot_replace_the_key() -> None:
    adapter = OpenAIAdapter(
        base_url="https://b.test/v1",
        api_key=KEY,
        default_model="m",
        extra_headers={"X-Title": "sarvanom", "Authorization": "Bearer other"},
    )
    headers = adapter.build(h.request()).headers
    assert headers["X-Title"] == "sarvanom"
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_health_call_lists_models_with_the_key() -> None:
    call = ADAPTER.health_call()
    assert (call.method, call.url, call.json) == ("GET", "https://api.openai.com/v1/models", None)
    h.assert_key_only_in(call, KEY, "Authorization", "Bearer ")


def test_calls_do_not_share_mutable_headers() -> None:
    call = ADAPTER.build(h.request())
    with pytest.raises(TypeError):
        call.headers["Authorization"] = "x"  # type: ignore[index]


# -- golden replies --------------------------------------------------------------------------


def test_golden_reply() -> None:
    assert ADAPTER.parse(h.reply(200, GOLDEN_REPLY)) == Completion(
        content="Hello! How can I assist you today?",
        model="gpt-4o-mini-2024-07-18",
        usage=Usage(19, 10),
        finish_reason="stop",
    )


def test_reasoning_content_is_kept_apart() -> None:
    body = {"choices": [{"message": {"content": "4", "reasoning_content": "2+2=4"}}]}
    completion = ADAPTER.parse(h.reply(200, body))
    assert (completion.content, completion.reasoning) == ("4", "2+2=4")


def test_refusal_counts_as_the_content() -> None:
    body = {"choices": [{"message": {"content": None, "refusal": "I can't help with that."}}]}
    assert ADAPTER.parse(h.reply(200, body)).content == "I can't help with that."


def test_empty_content_is_an_answer() -> None:
    body = {"choices": [{"message": {"content": ""}, "finish_reason": "length"}]}
    assert ADAPTER.parse(h.reply(200, body)).content == ""


def test_reply_without_usage_or_model() -> None:
    completion = ADAPTER.parse(h.reply(201, {"choices": [{"message": {"content": "ok"}}]}))
    assert (completion.usage, completion.model, completion.finish_reason) == (None, None, None)


# -- error shapes ----------------------------------------------------------------------------


def openai_error(message: str, kind: str = "invalid_request_error") -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@pytest.mark.parametrize(("status", "cls"), h.STATUS_CASES)
def test_every_error_status_maps_to_its_class(status: int, cls: type) -> None:
    body = openai_error("The model does not exist")
    h.assert_status_maps(ADAPTER, status, cls, body, "invalid_request_error: The model does not")


@pytest.mark.parametrize(("headers", "seconds"), h.RETRY_CASES)
def test_429_carries_retry_after(headers: dict[str, str], seconds: float) -> None:
    body = openai_error("Rate limit reached for gpt-4o-mini", "requests")
    error = h.parse_error(ADAPTER, h.reply(429, body, headers))
    assert isinstance(error, RateLimited)
    assert error.retry_after == seconds


def test_503_carries_retry_after() -> None:
    error = h.parse_error(
        ADAPTER, h.reply(503, openai_error("busy", "server_error"), {"retry-after": "3"})
    )
    assert isinstance(error, ServerError) and error.retry_after == 3.0


def test_html_error_page_is_named_not_quoted() -> None:
    error = h.parse_error(ADAPTER, h.reply(502, b"<html><body>Bad Gateway</body></html>"))
    assert isinstance(error, ServerError)
    assert "HTML" in str(error) and "<body>" not in str(error)


def test_empty_error_body() -> None:
    error = h.parse_error(ADAPTER, h.reply(500, b""))
    assert isinstance(error, ServerError) and "empty body" in str(error)


def test_redirect_is_refused() -> None:
    error = h.parse_error(ADAPTER, h.reply(307, b"", {"location": "https://evil.test/"}))
    assert isinstance(error, ServerError) and "redirect" in str(error)


@pytest.mark.parametrize("name", sorted(h.BAD_2XX_BODIES))
def test_bodies_that_are_not_answers(name: str) -> None:
    h.assert_bad_2xx(ADAPTER, name)


def test_error_object_with_200_is_bad_response_quoting_it() -> None:
    error = h.parse_error(ADAPTER, h.reply(200, openai_error("Internal error", "server_error")))
    assert type(error) is BadResponseError
    assert "Internal error" in str(error)


def test_empty_choices_is_bad_response() -> None:
    error = h.parse_error(ADAPTER, h.reply(200, {**GOLDEN_REPLY, "choices": []}))
    assert type(error) is BadResponseError
    assert "choices" in str(error)


def test_tool_call_without_content_is_bad_response() -> None:
    body = {"choices": [{"message": {"content": None, "tool_calls": [{"id": "c"}]}}]}
    assert type(h.parse_error(ADAPTER, h.reply(200, body))) is BadResponseError


# -- keys ------------------------------------------------------------------------------------


def test_key_only_in_authorization_header() -> None:
    h.assert_key_placement(ADAPTER, KEY, "Authorization", "Bearer ")


def test_echoed_key_never_reaches_an_error_message() -> None:
    h.assert_echoed_key_hidden(ADAPTER, KEY)


def test_echoed_key_hidden_in_stream_errors() -> None:
    events = [(None, {"error": {"message": f"bad key {KEY}"}}), (None, f"oops {KEY}")]
    for event in events:
        assert KEY not in str(h.stream_error(ADAPTER.stream_decoder, h.sse(event)))


# -- stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_stream_golden(how: str) -> None:
    streamed = h.streamed(ADAPTER.stream_decoder, h.stream_chunkings(STREAM)[how])
    assert streamed.text == STREAM_TEXT
    assert streamed.reasoning == "Think \u2713. "
    assert streamed.done.usage == Usage(9, 12)
    assert streamed.done.finish_reason == "stop"
    assert streamed.done.model == "gpt-4o-mini-2024-07-18"


@given(h.cut_points(STREAM))
def test_stream_any_split_gives_the_same_result(cuts: list[int]) -> None:
    h.assert_any_split_same(ADAPTER.stream_decoder, STREAM, cuts)


def test_stream_without_usage_chunk() -> None:
    data = h.sse((None, chunk({"content": "a"})), (None, chunk({}, "length")), (None, "[DONE]"))
    streamed = h.streamed(ADAPTER.stream_decoder, [data])
    assert (streamed.text, streamed.done.usage, streamed.done.finish_reason) == (
        "a",
        None,
        "length",
    )


def test_stream_done_without_final_blank_line() -> None:
    data = h.sse((None, chunk({"content": "a"}))) + b"data: [DONE]\n"
    assert h.streamed(ADAPTER.stream_decoder, [data]).text == "a"


def test_stream_ignores_comments_and_bytes_after_done() -> None:
    data = b": OPENROUTER PROCESSING\n\n" + STREAM + b"data: {not json\n\n"
    assert h.streamed(ADAPTER.stream_decoder, [data]).text == STREAM_TEXT


FINISH = b'"finish_reason": "stop"'


def test_cut_stream_raises_connection_error() -> None:
    cut = STREAM[: STREAM.rindex(b"data: ", 0, STREAM.index(FINISH))]
    error = h.stream_error(ADAPTER.stream_decoder, cut)
    assert isinstance(error, ProviderConnectionError)
    assert "terminator" in str(error)


def test_stream_cut_anywhere_before_its_finish_reason_raises() -> None:
    h.cut_everywhere(ADAPTER.stream_decoder, STREAM, FINISH)


def test_item1_a_clean_end_after_the_finish_reason_is_complete_without_done() -> None:
    """Issue 13 item 1: vLLM and some proxies end a complete stream without [DONE]."""
    data = STREAM[: STREAM.index(b"data: [DONE]")]
    result = h.streamed(ADAPTER.stream_decoder, [data])
    assert result.text == STREAM_TEXT
    assert result.done.finish_reason == "stop"
    assert result.done.usage == Usage(9, 12)


def test_item1_a_frame_cut_after_the_finish_reason_is_still_a_cut() -> None:
    data = STREAM[: STREAM.index(b"data: [DONE]")]
    cut = data[: data.rindex(b"usage") + 3]  # the usage chunk cut part-way
    assert isinstance(h.stream_error(ADAPTER.stream_decoder, cut), ProviderConnectionError)


def test_item5_one_malformed_event_mid_stream_is_skipped_and_counted() -> None:
    at = STREAM.index(b"data: ", STREAM.index(b"Hello") - 40)
    data = STREAM[:at] + b"data: {not json\n\n" + STREAM[at:]
    decoder = ADAPTER.stream_decoder()
    events = decoder.feed(data)
    assert "".join(e.text for e in events) == STREAM_TEXT
    assert decoder.malformed == 1 and events[-1].done


def test_item5_more_than_three_malformed_events_are_a_provider_error() -> None:
    bad = b"data: {oops\n\n" * 4
    with pytest.raises(BadResponseError, match="4 malformed events"):
        ADAPTER.stream_decoder().feed(STREAM[: STREAM.index(b"data: ", 10)] + bad)


def test_empty_stream_raises_connection_error() -> None:
    assert isinstance(h.stream_error(ADAPTER.stream_decoder, b""), ProviderConnectionError)


def test_error_chunk_mid_stream_raises_server_error() -> None:
    data = h.sse(
        (None, chunk({"content": "Hel"})),
        (None, {"error": {"message": "The server had an error", "type": "server_error"}}),
    )
    decoder = ADAPTER.stream_decoder()
    with pytest.raises(ServerError) as info:
        decoder.feed(data)
    assert "The server had an error" in str(info.value)
    assert info.value.provider == "openai"


def test_malformed_chunk_raises_bad_response() -> None:
    error = h.stream_error(ADAPTER.stream_decoder, b'data: {"choices": [\n\n')
    assert type(error) is BadResponseError


def test_html_instead_of_a_stream_raises_bad_response() -> None:
    error = h.stream_error(ADAPTER.stream_decoder, b"data: <html>\n\n")
    assert type(error) is BadResponseError


def test_feed_returns_deltas_as_they_complete() -> None:
    decoder = ADAPTER.stream_decoder()
    first = h.sse((None, chunk({"content": "Hi"})))
    assert decoder.feed(first[:-1]) == []
    assert [e.text for e in decoder.feed(first[-1:])] == ["Hi"]


# -- adapter_for -----------------------------------------------------------------------------


ALL_CONFIGURED = Settings(
    ollama_base_url="http://localhost:11434",
    gpu_remote_url="https://gpu.example.test",
    gpu_remote_token="gpu-key",
    huggingface_api_key="hf-key",
    openai_api_key="oa-key",
    anthropic_api_key="an-key",
)
OWN_KEYS = {
    ProviderName.OLLAMA_LOCAL: (OllamaAdapter, ()),
    ProviderName.REMOTE_GPU: (RemoteGPUAdapter, ("gpu-key",)),
    ProviderName.HUGGINGFACE: (HuggingFaceAdapter, ("hf-key",)),
    ProviderName.OPENAI: (OpenAIAdapter, ("oa-key",)),
    ProviderName.ANTHROPIC: (AnthropicAdapter, ("an-key",)),
}


@pytest.mark.parametrize("name", list(OWN_KEYS))
def test_adapter_for_builds_each_wire_provider_with_only_its_key(name: ProviderName) -> None:
    cls, secrets = OWN_KEYS[name]
    adapter = adapter_for(name, ALL_CONFIGURED)
    assert type(adapter) is cls and adapter.name is name
    assert adapter.secrets == secrets
    for other in ALL_CONFIGURED.secrets():
        if other not in secrets:
            h.assert_no_key(adapter.build(h.request()), other)


def test_adapter_for_refuses_the_stub() -> None:
    with pytest.raises(InvalidRequestError):
        adapter_for(ProviderName.LOCAL_STUB, Settings())


@pytest.mark.parametrize("code", ["content_policy_violation", "content_filter"])
def test_item6_a_content_filter_400_is_content_filtered(code: str) -> None:
    body = {"error": {"message": "Your request was rejected by our safety system",
                      "type": "invalid_request_error", "param": None, "code": code}}
    with pytest.raises(ContentFiltered, match="safety system") as info:
        ADAPTER.parse(h.reply(400, body))
    assert info.value.status == 400 and not info.value.trips_breaker


def test_item7_context_length_bodies_are_typed_openai_and_llama_cpp() -> None:
    openai = {"error": {"message": "This model's maximum context length is 8192 tokens",
                        "type": "invalid_request_error", "param": "messages",
                        "code": "context_length_exceeded"}}
    with pytest.raises(ContextLengthExceeded, match="maximum context length"):
        ADAPTER.parse(h.reply(400, openai))
    golden = Path(__file__).parents[1] / "real_model" / "golden" / "error_exceed_context.json"
    with pytest.raises(ContextLengthExceeded, match="exceeds the available context"):
        ADAPTER.parse(h.reply(400, golden.read_bytes(), {"content-type": "application/json"}))
