"""OllamaAdapter: golden calls and replies, reasoning kept apart (field or inline
``<think>``), every error shape, the NDJSON stream."""

from __future__ import annotations

import adapter_helpers as h
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarvanom_sdk.errors import (
    BadResponseError,
    ClientRequestError,
    ConfigurationError,
    ProviderConnectionError,
    ServerError,
)
from sarvanom_sdk.providers import OllamaAdapter, ProviderAdapter
from sarvanom_sdk.providers.base import Completion
from sarvanom_sdk.providers.ollama import ThinkSplitter
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.types import ProviderName, Usage

ADAPTER = OllamaAdapter(base_url="http://localhost:11434/", default_model="deepseek-r1:8b")

# From the Ollama API reference (chat request, no streaming; with thinking).
GOLDEN_REPLY = {
    "model": "deepseek-r1:8b",
    "created_at": "2025-05-29T09:35:56.836222Z",
    "message": {
        "role": "assistant",
        "content": "2 + 2 = 4.",
        "thinking": "The user asks a simple sum.",
    },
    "done_reason": "stop",
    "done": True,
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 342546000,
    "eval_count": 282,
    "eval_duration": 4535599000,
}


def part(content: str = "", thinking: str | None = None) -> dict[str, object]:
    message: dict[str, object] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    return {
        "model": "deepseek-r1:8b",
        "created_at": "2025-05-29T09:35:56.1Z",
        "message": message,
        "done": False,
    }


# The last object of a stream: an empty message and the counts of the whole reply.
FINAL = {
    **GOLDEN_REPLY,
    "created_at": "2025-05-29T09:35:57.2Z",
    "message": {"role": "assistant", "content": ""},
}

# An older server: the reasoning inline, tags split across chunks.
INLINE_STREAM = h.ndjson(
    part("<th"),
    part("ink>\nOkay, 2+2"),
    part(" is 4 \u2713.\n</"),
    part("think>\n\n"),
    part("The answer"),
    part(" is 4 \U0001f600."),
    FINAL,
)
# A newer server: the reasoning in message.thinking.
FIELD_STREAM = h.ndjson(
    part(thinking="Okay, 2+2"),
    part(thinking=" is 4 \u2713.\n"),
    part("The answer"),
    part(" is 4 \U0001f600."),
    FINAL,
)
ANSWER = "The answer is 4 \U0001f600."
REASONING = "\nOkay, 2+2 is 4 \u2713.\n"


# -- construction ----------------------------------------------------------------------------


def test_is_a_free_provider_adapter() -> None:
    assert isinstance(ADAPTER, ProviderAdapter)
    assert (ADAPTER.name, ADAPTER.paid, ADAPTER.secrets) == (ProviderName.OLLAMA_LOCAL, False, ())


def test_from_settings() -> None:
    settings = Settings(ollama_base_url="http://gpu.lan:11434", ollama_model="qwen3:4b")
    adapter = OllamaAdapter.from_settings(settings)
    call = adapter.build(h.request())
    assert call.url == "http://gpu.lan:11434/api/chat"
    assert h.call_body(call)["model"] == "qwen3:4b"


def test_from_settings_without_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        OllamaAdapter.from_settings(Settings())
    assert info.value.variable == "OLLAMA_BASE_URL"


# -- golden calls ----------------------------------------------------------------------------


def test_golden_call() -> None:
    call = ADAPTER.build(
        h.request(prompt="Why is the sky blue?", system="Be brief.", max_tokens=128)
    )
    assert call.secrets == ()
    h.assert_golden_call(
        call,
        "POST",
        "http://localhost:11434/api/chat",
        {"Content-Type": "application/json"},
        {
            "model": "deepseek-r1:8b",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Why is the sky blue?"},
            ],
            "stream": False,
            "options": {"num_predict": 128, "temperature": 0.5},
        },
    )


def test_stream_call_and_messages() -> None:
    body = h.call_body(
        ADAPTER.build(
            h.request(messages=h.CHAT, model="llama3.2", provider="ollama_local"), stream=True
        )
    )
    assert body["stream"] is True
    assert body["messages"] == list(h.CHAT)
    assert body["model"] == "llama3.2"


def test_health_call_lists_tags() -> None:
    call = ADAPTER.health_call()
    assert (call.method, call.url, call.json) == ("GET", "http://localhost:11434/api/tags", None)


# -- golden replies --------------------------------------------------------------------------


def test_golden_reply_with_thinking_field() -> None:
    assert ADAPTER.parse(h.reply(200, GOLDEN_REPLY)) == Completion(
        content="2 + 2 = 4.",
        model="deepseek-r1:8b",
        usage=Usage(26, 282),
        reasoning="The user asks a simple sum.",
        finish_reason="stop",
    )


def test_inline_think_is_moved_to_reasoning() -> None:
    body = {
        **GOLDEN_REPLY,
        "message": {"role": "assistant", "content": f"<think>{REASONING}</think>\n\n{ANSWER}"},
    }
    completion = ADAPTER.parse(h.reply(200, body))
    assert (completion.content, completion.reasoning) == (ANSWER, REASONING)


def test_unclosed_think_is_all_reasoning() -> None:
    body = {**GOLDEN_REPLY, "done_reason": "length", "message": {"content": "<think>still going"}}
    completion = ADAPTER.parse(h.reply(200, body))
    assert (completion.content, completion.reasoning, completion.finish_reason) == (
        "",
        "still going",
        "length",
    )


def test_plain_content_is_untouched() -> None:
    body = {**GOLDEN_REPLY, "message": {"role": "assistant", "content": "  Use <think> tags.  "}}
    completion = ADAPTER.parse(h.reply(200, body))
    assert (completion.content, completion.reasoning) == ("  Use <think> tags.  ", None)


def test_reply_without_counts() -> None:
    body = {"message": {"role": "assistant", "content": "hi"}, "done": True}
    assert ADAPTER.parse(h.reply(200, body)).usage is None


# -- error shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), h.STATUS_CASES)
def test_every_error_status_maps_to_its_class(status: int, cls: type) -> None:
    h.assert_status_maps(ADAPTER, status, cls, {"error": "went wrong"}, "went wrong")


def test_unknown_model_is_a_client_error_naming_the_model() -> None:
    body = {"error": 'model "llama3:70b" not found, try pulling it first'}
    error = h.parse_error(ADAPTER, h.reply(404, body))
    assert type(error) is ClientRequestError and "try pulling it first" in str(error)


@pytest.mark.parametrize("name", sorted(h.BAD_2XX_BODIES))
def test_bodies_that_are_not_answers(name: str) -> None:
    h.assert_bad_2xx(ADAPTER, name)


def test_error_object_with_200_is_server_error() -> None:
    error = h.parse_error(ADAPTER, h.reply(200, {"error": "llama runner process has terminated"}))
    assert type(error) is ServerError and "runner process" in str(error)


def test_message_without_content_is_bad_response() -> None:
    error = h.parse_error(ADAPTER, h.reply(200, {**GOLDEN_REPLY, "message": {"role": "assistant"}}))
    assert type(error) is BadResponseError and "message.content" in str(error)


# -- stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [INLINE_STREAM, FIELD_STREAM], ids=["inline", "field"])
@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_stream_golden(data: bytes, how: str) -> None:
    streamed = h.streamed(ADAPTER.stream_decoder, h.stream_chunkings(data)[how])
    assert streamed.text == ANSWER
    assert streamed.reasoning.strip() == REASONING.strip()
    assert streamed.done.usage == Usage(26, 282)
    assert (streamed.done.finish_reason, streamed.done.model) == ("stop", "deepseek-r1:8b")


@pytest.mark.parametrize("data", [INLINE_STREAM, FIELD_STREAM], ids=["inline", "field"])
@given(cuts=h.cut_points(INLINE_STREAM))
def test_stream_any_split_gives_the_same_result(data: bytes, cuts: list[int]) -> None:
    h.assert_any_split_same(ADAPTER.stream_decoder, data, cuts)


def test_inline_stream_never_shows_tag_text() -> None:
    events = h.decode(ADAPTER.stream_decoder, h.stream_chunkings(INLINE_STREAM)["bytewise"])
    assert all("<" not in e.text and ">" not in e.text for e in events)


def test_stream_matches_the_whole_reply() -> None:
    body = {
        **FINAL,
        "message": {"role": "assistant", "content": f"<think>{REASONING}</think>\n\n{ANSWER}"},
    }
    whole = ADAPTER.parse(h.reply(200, body))
    streamed = h.streamed(ADAPTER.stream_decoder, [INLINE_STREAM])
    assert (streamed.text, streamed.reasoning, streamed.done.usage) == (
        whole.content,
        whole.reasoning,
        whole.usage,
    )


def test_final_object_text_is_delivered_before_done() -> None:
    data = h.ndjson(part("a"), {**FINAL, "message": {"role": "assistant", "content": "b"}})
    events = h.decode(ADAPTER.stream_decoder, [data])
    assert [(e.text, e.done) for e in events] == [("a", False), ("b", False), ("", True)]


def test_done_without_trailing_newline() -> None:
    assert h.streamed(ADAPTER.stream_decoder, [INLINE_STREAM.rstrip(b"\n")]).text == ANSWER


def test_cut_stream_raises_connection_error() -> None:
    error = h.stream_error(ADAPTER.stream_decoder, FIELD_STREAM[: FIELD_STREAM.rindex(b'{"model"')])
    assert isinstance(error, ProviderConnectionError)


def test_stream_cut_anywhere_raises() -> None:
    h.cut_everywhere(
        ADAPTER.stream_decoder,
        INLINE_STREAM,
        b'{"model": "deepseek-r1:8b", "created_at": "2025-05-29T09:35:57.2Z"',
    )


def test_error_object_mid_stream_raises_server_error() -> None:
    data = h.ndjson(part("Hel"), {"error": "an error was encountered while running the model"})
    error = h.stream_error(ADAPTER.stream_decoder, data)
    assert type(error) is ServerError and "running the model" in str(error)


def test_non_json_line_raises_bad_response() -> None:
    assert type(h.stream_error(ADAPTER.stream_decoder, b"<html>oops</html>\n")) is BadResponseError


def test_non_object_line_raises_bad_response() -> None:
    assert type(h.stream_error(ADAPTER.stream_decoder, b"[1, 2]\n")) is BadResponseError


# -- ThinkSplitter ---------------------------------------------------------------------------


def run_splitter(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    answer = reasoning = ""
    for piece in pieces:
        a, r = splitter.feed(piece)
        answer, reasoning = answer + a, reasoning + r
    a, r = splitter.finish()
    return answer + a, reasoning + r


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<think>why</think>answer", ("answer", "why")),
        ("\n <think>why</think>\n\n answer", ("answer", "why")),
        ("<think></think>answer", ("answer", "")),
        ("<think>a < b </thin k></think>x", ("x", "a < b </thin k>")),
        ("<thinking>not ours</thinking>", ("<thinking>not ours</thinking>", "")),
        ("answer <think>later</think>", ("answer <think>later</think>", "")),
        ("<thi", ("<thi", "")),
        ("  ", ("  ", "")),
        ("<think>partial </thi", ("", "partial </thi")),
        ("", ("", "")),
    ],
)
def test_splitter_cases(content: str, expected: tuple[str, str]) -> None:
    assert run_splitter([content]) == expected


@given(st.text(alphabet="<>/thinkab \n", max_size=40), st.lists(st.integers(0, 40)))
def test_splitter_is_independent_of_chunking(content: str, cuts: list[int]) -> None:
    assert run_splitter(h.split(content, cuts)) == run_splitter([content])
