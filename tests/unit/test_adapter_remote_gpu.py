"""RemoteGPUAdapter: the seed's /generate protocol and OpenAI mode, the tunnel header, the
HTTPS rule, and the buffered stream of the seed protocol."""

from __future__ import annotations

import adapter_helpers as h
import pytest
from hypothesis import given

from sarvanom_sdk.errors import (
    BadResponseError,
    ConfigurationError,
    ProviderConnectionError,
    RateLimited,
)
from sarvanom_sdk.providers import ProviderAdapter, RemoteGPUAdapter, adapter_for
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.types import ProviderName, Usage

TOKEN = "gpu-box-token-Mz77"
URL = "https://abc123.ngrok-free.app"
SEED = RemoteGPUAdapter(url=URL + "/", token=TOKEN)
OPENAI = RemoteGPUAdapter(url=URL, token=TOKEN, protocol="openai", model="Qwen/Qwen2.5-7B-Instruct")
NGROK = "ngrok-skip-browser-warning"
TUNNEL_HEADERS = {
    NGROK: "true",
    "Authorization": f"Bearer {TOKEN}",
    "Content-Type": "application/json",
}


# -- construction and the HTTPS rule ---------------------------------------------------------


@pytest.mark.parametrize("adapter", [SEED, OPENAI], ids=["seed", "openai"])
def test_is_a_free_provider_adapter(adapter: RemoteGPUAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert (adapter.name, adapter.paid, adapter.secrets) == (
        ProviderName.REMOTE_GPU,
        False,
        (TOKEN,),
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://abc123.ngrok-free.app",
        "http://192.168.1.20:8000",
        "http://10.0.0.5",
        "http://localhost.evil.test:8000",
        "ftp://example.test",
        "not a url",
    ],
)
def test_refuses_clear_text_urls_off_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RemoteGPUAdapter(url=url, token=TOKEN)
    assert info.value.variable == "GPU_REMOTE_URL"


def test_refusal_message_names_the_rule() -> None:
    with pytest.raises(ConfigurationError, match="must be https:// unless the host is loopback"):
        adapter_for(ProviderName.REMOTE_GPU, Settings(gpu_remote_url="http://gpu.example.test"))


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000", "http://127.0.0.1:5000", "http://[::1]:8000", "http://127.8.9.1"],
)
def test_allows_http_on_loopback(url: str) -> None:
    assert RemoteGPUAdapter(url=url).build(h.request()).url == f"{url}/generate"


def test_unknown_protocol_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        RemoteGPUAdapter(url=URL, protocol="grpc")
    assert info.value.variable == "GPU_REMOTE_PROTOCOL"


def test_from_settings() -> None:
    settings = Settings(
        gpu_remote_url=URL,
        gpu_remote_token=TOKEN,
        gpu_remote_protocol="openai",
        gpu_remote_model="llama-3.1-8b",
    )
    adapter = RemoteGPUAdapter.from_settings(settings)
    assert adapter.protocol == "openai"
    assert h.call_body(adapter.build(h.request()))["model"] == "llama-3.1-8b"


def test_from_settings_without_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        RemoteGPUAdapter.from_settings(Settings())
    assert info.value.variable == "GPU_REMOTE_URL"


# -- golden calls ----------------------------------------------------------------------------


def test_golden_seed_call() -> None:
    h.assert_golden_call(
        SEED.build(
            h.request(prompt="Tell me a joke", system="Be funny.", max_tokens=50, temperature=0.7)
        ),
        "POST",
        f"{URL}/generate",
        TUNNEL_HEADERS,
        {
            "prompt": "Be funny.\n\nTell me a joke",
            "max_tokens": 50,
            "temperature": 0.7,
        },
    )


def test_seed_call_without_token_has_no_authorization() -> None:
    call = RemoteGPUAdapter(url=URL).build(h.request())
    assert dict(call.headers) == {NGROK: "true", "Content-Type": "application/json"}
    assert call.secrets == ()


def test_seed_stream_request_is_a_normal_request() -> None:
    assert SEED.build(h.request(), stream=True) == SEED.build(h.request())


def test_golden_openai_mode_call() -> None:
    h.assert_golden_call(
        OPENAI.build(h.request(prompt="Hi"), stream=True),
        "POST",
        f"{URL}/v1/chat/completions",
        TUNNEL_HEADERS,
        {
            "model": "Qwen/Qwen2.5-7B-Instruct",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 64,
            "temperature": 0.5,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )


def test_openai_mode_url_ending_in_v1_is_the_same_box() -> None:
    adapter = RemoteGPUAdapter(url=URL + "/v1/", protocol="openai")
    assert adapter.build(h.request()).url == f"{URL}/v1/chat/completions"
    health = adapter.health_call()
    assert health is not None and health.url == f"{URL}/health"


@pytest.mark.parametrize("adapter", [SEED, OPENAI], ids=["seed", "openai"])
def test_health_call(adapter: RemoteGPUAdapter) -> None:
    call = adapter.health_call()
    assert call is not None
    assert (call.method, call.url, call.json) == ("GET", f"{URL}/health", None)
    assert call.headers[NGROK] == "true"
    h.assert_key_only_in(call, TOKEN, "Authorization", "Bearer ")


# -- golden replies --------------------------------------------------------------------------


def test_seed_reply() -> None:
    completion = SEED.parse(h.reply(200, {"content": "Why did the GPU cross the road? \U0001f600"}))
    assert completion.content == "Why did the GPU cross the road? \U0001f600"
    assert completion.usage is None


def test_openai_mode_reply() -> None:
    body = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    completion = OPENAI.parse(h.reply(200, body))
    assert (completion.content, completion.usage) == ("Hello", Usage(5, 1))


# -- error shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [SEED, OPENAI], ids=["seed", "openai"])
@pytest.mark.parametrize(("status", "cls"), h.STATUS_CASES)
def test_every_error_status_maps_to_its_class(
    adapter: RemoteGPUAdapter, status: int, cls: type
) -> None:
    h.assert_status_maps(adapter, status, cls, {"detail": "CUDA out of memory"}, "CUDA out of")


@pytest.mark.parametrize(("headers", "seconds"), h.RETRY_CASES)
def test_429_carries_retry_after(headers: dict[str, str], seconds: float) -> None:
    error = h.parse_error(SEED, h.reply(429, {"detail": "Too Many Requests"}, headers))
    assert isinstance(error, RateLimited) and error.retry_after == seconds


def test_fastapi_validation_detail_is_quoted() -> None:
    detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]
    assert "field required" in str(h.parse_error(SEED, h.reply(422, {"detail": detail})))


def test_offline_tunnel_page_is_a_named_http_error() -> None:
    error = h.parse_error(
        SEED,
        h.reply(404, b"<!DOCTYPE html><html>ERR_NGROK_3200</html>", {"content-type": "text/html"}),
    )
    assert error.status == 404 and "HTML" in str(error)


@pytest.mark.parametrize("adapter", [SEED, OPENAI], ids=["seed", "openai"])
@pytest.mark.parametrize("name", sorted(h.BAD_2XX_BODIES))
def test_bodies_that_are_not_answers(adapter: RemoteGPUAdapter, name: str) -> None:
    h.assert_bad_2xx(adapter, name)


def test_interstitial_with_200_is_never_an_answer() -> None:
    error = h.parse_error(
        SEED, h.reply(200, h.NGROK_INTERSTITIAL, {"content-type": "text/html; charset=utf-8"})
    )
    assert type(error) is BadResponseError and "HTML" in str(error)


@pytest.mark.parametrize(
    "body", [{"text": "hi"}, {"content": None}, {"content": ["a"]}, {"error": "model not loaded"}]
)
def test_seed_200_without_content_is_bad_response(body: object) -> None:
    assert type(h.parse_error(SEED, h.reply(200, body))) is BadResponseError


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [SEED, OPENAI], ids=["seed", "openai"])
def test_token_only_in_authorization_header(adapter: RemoteGPUAdapter) -> None:
    h.assert_key_placement(adapter, TOKEN, "Authorization", "Bearer ")


@pytest.mark.parametrize("adapter", [SEED, OPENAI], ids=["seed", "openai"])
def test_echoed_token_never_reaches_an_error_message(adapter: RemoteGPUAdapter) -> None:
    h.assert_echoed_key_hidden(adapter, TOKEN)


def test_echoed_token_hidden_in_a_buffered_stream_error() -> None:
    assert TOKEN not in str(h.stream_error(SEED.stream_decoder, f'{{"content": "{TOKEN}'.encode()))


# -- streams ---------------------------------------------------------------------------------

SEED_BODY = h.reply(200, {"content": "Knock knock \u2713"}).body


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_seed_stream_is_buffered_into_one_delta_and_done(how: str) -> None:
    streamed = h.streamed(SEED.stream_decoder, h.stream_chunkings(SEED_BODY)[how])
    assert streamed.text == "Knock knock \u2713"


@given(h.cut_points(SEED_BODY))
def test_seed_stream_any_split(cuts: list[int]) -> None:
    assert h.streamed(SEED.stream_decoder, h.split(SEED_BODY, cuts)).text == "Knock knock \u2713"


@pytest.mark.parametrize("body", [b"", SEED_BODY[:-3], h.NGROK_INTERSTITIAL, b'{"detail": "boom"}'])
def test_seed_stream_of_a_non_answer_raises_bad_response(body: bytes) -> None:
    assert type(h.stream_error(SEED.stream_decoder, body)) is BadResponseError


def test_openai_mode_streams_sse() -> None:
    data = h.sse((None, {"choices": [{"delta": {"content": "Hi"}}]}), (None, "[DONE]"))
    assert h.streamed(OPENAI.stream_decoder, [data]).text == "Hi"
    cut = data[: data.index(b"data: [DONE]")]
    assert isinstance(h.stream_error(OPENAI.stream_decoder, cut), ProviderConnectionError)
