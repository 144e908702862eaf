"""HuggingFaceAdapter: the router (OpenAI protocol) and the legacy task API, including the
buffered stream that stands in for the task API's missing one."""

from __future__ import annotations

import adapter_helpers as h
import pytest
from hypothesis import given

from sarvanom_sdk.errors import (
    BadResponseError,
    ConfigurationError,
    ProviderConnectionError,
    RateLimited,
    ServerError,
)
from sarvanom_sdk.providers import HuggingFaceAdapter, ProviderAdapter, adapter_for
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.types import ProviderName, Usage

KEY = "test-hf-token-Kd93"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
ROUTER = HuggingFaceAdapter(api_key=KEY, default_model=MODEL)
TASK = HuggingFaceAdapter(
    api_key=KEY, default_model="gpt2", base_url="http://127.0.0.1:8080", api="task"
)

ROUTER_REPLY = {
    "id": "chatcmpl-8f1",
    "object": "chat.completion",
    "created": 1745000000,
    "model": MODEL,
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}
TASK_REPLY = [{"generated_text": " Paris is the capital of France \u2713."}]
LOADING = {"error": "Model gpt2 is currently loading", "estimated_time": 20.0}


# -- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [ROUTER, TASK], ids=["router", "task"])
def test_is_a_free_provider_adapter(adapter: HuggingFaceAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert (adapter.name, adapter.paid) == (ProviderName.HUGGINGFACE, False)
    assert adapter.secrets == (KEY,)


def test_from_settings_picks_the_protocol() -> None:
    router = adapter_for(ProviderName.HUGGINGFACE, Settings(huggingface_api_key=KEY))
    task = adapter_for(
        ProviderName.HUGGINGFACE, Settings(huggingface_api_key=KEY, huggingface_api="task")
    )
    assert router.build(h.request()).url == "https://router.huggingface.co/v1/chat/completions"
    assert (
        task.build(h.request()).url == f"https://router.huggingface.co/hf-inference/models/{MODEL}"
    )


def test_task_mode_keeps_a_custom_base_url() -> None:
    adapter = HuggingFaceAdapter.from_settings(
        Settings(
            huggingface_api_key=KEY,
            huggingface_api="task",
            huggingface_base_url="https://tgi.example.test/",
            huggingface_model="bigscience/bloom",
        )
    )
    assert adapter.build(h.request()).url == "https://tgi.example.test/models/bigscience/bloom"


def test_unknown_api_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        HuggingFaceAdapter(api_key=KEY, default_model=MODEL, api="grpc")


# -- golden calls ----------------------------------------------------------------------------


def test_golden_router_call() -> None:
    h.assert_golden_call(
        ROUTER.build(h.request(prompt="Capital of France?", system="One word."), stream=True),
        "POST",
        "https://router.huggingface.co/v1/chat/completions",
        {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "One word."},
                {"role": "user", "content": "Capital of France?"},
            ],
            "max_tokens": 64,
            "temperature": 0.5,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )


def test_golden_task_call() -> None:
    h.assert_golden_call(
        TASK.build(h.request(prompt="The capital of France is", system="Answer plainly.")),
        "POST",
        "http://127.0.0.1:8080/models/gpt2",
        {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        {
            "inputs": "Answer plainly.\n\nThe capital of France is",
            "parameters": {"max_new_tokens": 64, "return_full_text": False, "temperature": 0.5},
        },
    )


def test_task_call_flattens_messages() -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]
    body = h.call_body(
        TASK.build(h.request(messages=messages, model="tiiuae/falcon-7b", provider="huggingface"))
    )
    assert body["inputs"] == "user: Hi\nassistant: Hey"
    assert TASK.build(h.request(model="tiiuae/falcon-7b", provider="huggingface")).url.endswith(
        "/models/tiiuae/falcon-7b"
    )


def test_task_call_at_temperature_zero_is_greedy() -> None:
    parameters = h.call_body(TASK.build(h.request(temperature=0)))["parameters"]
    assert parameters == {"max_new_tokens": 64, "return_full_text": False, "do_sample": False}


def test_task_stream_request_is_a_normal_request() -> None:
    assert TASK.build(h.request(), stream=True) == TASK.build(h.request())


def test_health_calls() -> None:
    call = ROUTER.health_call()
    assert call is not None
    assert (call.method, call.url) == ("GET", "https://router.huggingface.co/v1/models")
    h.assert_key_only_in(call, KEY, "Authorization", "Bearer ")
    assert TASK.health_call() is None


# -- golden replies --------------------------------------------------------------------------


def test_router_reply() -> None:
    completion = ROUTER.parse(h.reply(200, ROUTER_REPLY))
    assert (completion.content, completion.usage, completion.model) == (
        "Paris.",
        Usage(12, 3),
        MODEL,
    )


def test_task_reply_list() -> None:
    assert TASK.parse(h.reply(200, TASK_REPLY)).content == TASK_REPLY[0]["generated_text"]


def test_task_reply_object() -> None:
    assert TASK.parse(h.reply(200, {"generated_text": "ok"})).content == "ok"


# -- error shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [ROUTER, TASK], ids=["router", "task"])
@pytest.mark.parametrize(("status", "cls"), h.STATUS_CASES)
def test_every_error_status_maps_to_its_class(
    adapter: HuggingFaceAdapter, status: int, cls: type
) -> None:
    body = {"error": "Invalid credentials in Authorization header"}
    h.assert_status_maps(adapter, status, cls, body, "Invalid credentials")


@pytest.mark.parametrize("adapter", [ROUTER, TASK], ids=["router", "task"])
@pytest.mark.parametrize(("headers", "seconds"), h.RETRY_CASES)
def test_429_carries_retry_after(
    adapter: HuggingFaceAdapter, headers: dict[str, str], seconds: float
) -> None:
    error = h.parse_error(adapter, h.reply(429, {"error": "Rate limit reached."}, headers))
    assert isinstance(error, RateLimited) and error.retry_after == seconds


def test_model_loading_is_server_error_retrying_after_estimated_time() -> None:
    error = h.parse_error(TASK, h.reply(503, LOADING))
    assert type(error) is ServerError
    assert error.retry_after == 20.0
    assert "currently loading" in str(error)


def test_retry_after_header_wins_over_estimated_time() -> None:
    assert h.parse_error(TASK, h.reply(503, LOADING, {"retry-after": "5"})).retry_after == 5.0


def test_error_list_is_joined() -> None:
    error = h.parse_error(
        TASK, h.reply(422, {"error": ["Input validation error", "max_new_tokens too big"]})
    )
    assert "Input validation error; max_new_tokens too big" in str(error)


@pytest.mark.parametrize("adapter", [ROUTER, TASK], ids=["router", "task"])
@pytest.mark.parametrize("name", sorted(h.BAD_2XX_BODIES))
def test_bodies_that_are_not_answers(adapter: HuggingFaceAdapter, name: str) -> None:
    h.assert_bad_2xx(adapter, name)


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Model is overloaded"},
        [{"text": "x"}],
        [{"generated_text": None}],
        {"summary_text": "x"},
    ],
)
def test_task_200_without_generated_text_is_bad_response(body: object) -> None:
    assert type(h.parse_error(TASK, h.reply(200, body))) is BadResponseError


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [ROUTER, TASK], ids=["router", "task"])
def test_key_only_in_authorization_header(adapter: HuggingFaceAdapter) -> None:
    h.assert_key_placement(adapter, KEY, "Authorization", "Bearer ")


@pytest.mark.parametrize("adapter", [ROUTER, TASK], ids=["router", "task"])
def test_echoed_key_never_reaches_an_error_message(adapter: HuggingFaceAdapter) -> None:
    h.assert_echoed_key_hidden(adapter, KEY)


def test_other_providers_keys_never_travel_here() -> None:
    settings = Settings(huggingface_api_key=KEY, openai_api_key="sk-other-openai-key-123")
    call = adapter_for(ProviderName.HUGGINGFACE, settings).build(h.request())
    h.assert_no_key(call, "sk-other-openai-key-123")


# -- streams ---------------------------------------------------------------------------------

ROUTER_STREAM = h.sse(
    (
        None,
        {
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}}],
            "model": MODEL,
        },
    ),
    (None, {"choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}]}),
    (None, {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}),
    (None, "[DONE]"),
)
TASK_BODY = h.reply(200, TASK_REPLY).body


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_router_stream(how: str) -> None:
    streamed = h.streamed(ROUTER.stream_decoder, h.stream_chunkings(ROUTER_STREAM)[how])
    assert (streamed.text, streamed.done.usage, streamed.done.model) == (
        "Paris.",
        Usage(12, 3),
        MODEL,
    )


def test_router_cut_stream_raises() -> None:
    # cut before the chunk with the finish reason (after it, a clean end is complete)
    data = ROUTER_STREAM[: ROUTER_STREAM.rindex(b"data: ", 0, ROUTER_STREAM.index(b'"stop"'))]
    assert isinstance(h.stream_error(ROUTER.stream_decoder, data), ProviderConnectionError)


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_task_stream_is_buffered_into_one_delta_and_done(how: str) -> None:
    events = h.decode(TASK.stream_decoder, h.stream_chunkings(TASK_BODY)[how])
    assert len(events) == 2
    assert events[0].text == TASK_REPLY[0]["generated_text"]
    assert events[1].done


@given(h.cut_points(TASK_BODY))
def test_task_stream_any_split(cuts: list[int]) -> None:
    h.assert_any_split_same(TASK.stream_decoder, TASK_BODY, cuts)


def test_task_stream_emits_nothing_before_close() -> None:
    decoder = TASK.stream_decoder()
    assert decoder.feed(TASK_BODY) == []
    assert decoder.close()[-1].done


@pytest.mark.parametrize(
    "body", [b"", TASK_BODY[:-5], b"<html>ngrok</html>", b'{"error": "Model is overloaded"}']
)
def test_task_stream_of_a_non_answer_raises_bad_response(body: bytes) -> None:
    assert type(h.stream_error(TASK.stream_decoder, body)) is BadResponseError


def test_task_stream_of_an_empty_answer_is_just_done() -> None:
    events = h.decode(TASK.stream_decoder, [b'[{"generated_text": ""}]'])
    assert len(events) == 1 and events[0].done
