"""Issue 13's provider faults, as the emulator puts them on the wire.

Each is checked on the raw bytes and, where an official client exists, by that client
(``openai``, ``anthropic``), so the shapes are the providers' own: a complete stream
without its terminator, a keep-alive-only stall, one malformed event mid-stream,
content-filter and context-length bodies, a prefill rejection, and a flapping provider
(health endpoint included) on a controllable clock or by request count.
"""

from __future__ import annotations

import json
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
import requests

from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.testing.faults import LLAMA_CPP_PREFILL_MESSAGE

USER: Any = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Emulated openai answer to: What is the capital of France?"
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": USER}
STREAM_USAGE = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}}
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
ANTHROPIC_BODY = {"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "messages": USER}
BEARER = {"Authorization": "Bearer k"}
PREFILL: Any = [*USER, {"role": "assistant", "content": "The capital is"}]
GOLDEN = pathlib.Path(__file__).parent.parent / "real_model" / "golden"


@pytest.fixture
def emu(provider_emulator: ProviderEmulator) -> ProviderEmulator:
    return provider_emulator


def post(emu: ProviderEmulator, provider: str, path: str, body: Any,
         headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:  # fmt: skip
    url = emu.url_for(provider) + path
    return requests.post(url, json=body, headers=BEARER if headers is None else headers,
                         timeout=30, **kw)  # fmt: skip


def chat(emu: ProviderEmulator, body: Any = None, provider: str = "openai") -> requests.Response:
    path = "/v1/chat/completions" if provider == "remote_gpu_openai" else "/chat/completions"
    return post(emu, provider, path, OPENAI_BODY if body is None else body)


def messages(emu: ProviderEmulator, body: Any = None) -> requests.Response:
    return post(emu, "anthropic", "/v1/messages", body or ANTHROPIC_BODY, ANTHROPIC_HEADERS)


def data_lines(raw: bytes) -> list[str]:
    return [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]


def event_names(raw: bytes) -> list[str]:
    return [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]


def openai_client(emu: ProviderEmulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.url_for("openai"), api_key="k", max_retries=0)


def anthropic_client(emu: ProviderEmulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=emu.url_for("anthropic"), api_key="k", max_retries=0)


# -- complete without terminator ------------------------------------------------------------
def test_complete_without_terminator_openai_ends_after_the_finish_and_usage_chunks(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.complete_without_terminator())
    raw = chat(emu, STREAM_USAGE).content
    data = data_lines(raw)
    assert "[DONE]" not in data
    chunks = [json.loads(d) for d in data]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 10
    assert raw.endswith(b"\n\n")  # the last event is whole: the body ended cleanly
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == ANSWER


def test_complete_without_terminator_parses_in_the_official_openai_client(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.complete_without_terminator())
    with openai_client(emu) as client:
        chunks = list(client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True,
            stream_options={"include_usage": True}))  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage is not None


def test_complete_without_terminator_anthropic_ends_after_message_delta(
    emu: ProviderEmulator,
) -> None:
    emu.inject("anthropic", Fault.complete_without_terminator())
    raw = messages(emu, {**ANTHROPIC_BODY, "stream": True}).content
    names = event_names(raw)
    assert names[-1] == "message_delta" and "message_stop" not in names
    assert json.loads(data_lines(raw)[-1])["delta"]["stop_reason"] == "end_turn"


def test_complete_without_terminator_does_not_exist_on_ollama() -> None:
    with ProviderEmulator() as emu, pytest.raises(ValueError, match="finish marker"):
        emu.inject("ollama", Fault.complete_without_terminator())


def test_no_terminator_is_a_clean_cut_before_the_finish_marker(emu: ProviderEmulator) -> None:
    """The old fault, made unambiguous: on OpenAI it ends before the finish chunk too."""
    emu.inject("openai", Fault.no_terminator())
    chunks = [json.loads(d) for d in data_lines(chat(emu, STREAM_USAGE).content)]
    assert all(c["choices"] and c["choices"][0]["finish_reason"] is None for c in chunks)
    assert len(chunks) >= 2


# -- keep-alive-only stall --------------------------------------------------------------------
def test_keepalive_stall_sends_only_comments_after_the_first_chunk_then_the_rest(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.keepalive_stall(after=1, seconds=0.6, interval=0.2))
    started = time.monotonic()
    response = chat(emu, {**OPENAI_BODY, "stream": True}, provider="openai")
    elapsed = time.monotonic() - started
    lines = [line for line in response.content.decode().split("\n\n") if line]
    kinds = ["keep-alive" if line == ": keep-alive" else "data" for line in lines]
    first = kinds.index("keep-alive")
    assert kinds[:first] == ["data", "data"]  # the role chunk and one content chunk
    assert kinds[first:first + 2] == ["keep-alive"] * 2 and "keep-alive" not in kinds[first + 2:]
    assert elapsed >= 0.6 * 0.9
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for d in data_lines(response.content)[:-1])  # fmt: skip
    assert text == ANSWER and data_lines(response.content)[-1] == "[DONE]"


def test_keepalive_stall_holds_the_official_client_between_content_chunks(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.keepalive_stall(after=2, seconds=0.5, interval=0.1))
    arrivals: list[tuple[float, str]] = []
    with openai_client(emu) as client:
        started = time.monotonic()
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    assert "".join(text for _, text in arrivals) == ANSWER
    # chunk 3 cannot arrive before the stall has passed (the raw test above shows where
    # the keep-alives sit; a lower bound is all a busy machine lets timing prove)
    assert arrivals[2][0] >= 0.5 * 0.9


@pytest.mark.parametrize(("seconds", "interval", "expected"),
                         [(0.6, 0.2, 2), (0.3, 0.1, 2), (0.25, 0.1, 2), (0.1, 0.2, 0)])
def test_keepalive_stall_sends_one_keepalive_between_two_pauses(
    emu: ProviderEmulator, seconds: float, interval: float, expected: int
) -> None:
    emu.inject("openai", Fault.keepalive_stall(after=1, seconds=seconds, interval=interval))
    raw = chat(emu, {**OPENAI_BODY, "stream": True}).content
    assert raw.count(b": keep-alive\n\n") == expected


def test_keepalive_stall_on_ollama_sends_blank_lines(emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.keepalive_stall(after=1, seconds=0.3, interval=0.1))
    raw = post(emu, "ollama", "/api/chat", {"model": "m", "messages": USER}, {}).content
    lines = raw.split(b"\n")
    assert lines[1:3] == [b"", b""] and json.loads(lines[0])["done"] is False
    parsed = [json.loads(line) for line in lines if line]
    assert parsed[-1]["done"] is True and len(parsed) == 5


def test_a_long_stall_ends_promptly_when_the_emulator_stops() -> None:
    emu = ProviderEmulator().start()
    emu.inject("openai", Fault.keepalive_stall(seconds=600))
    got: dict[str, Any] = {}

    def read() -> None:
        try:
            got["body"] = chat(emu, {**OPENAI_BODY, "stream": True}).content
        except requests.RequestException as error:
            got["error"] = error

    thread = threading.Thread(target=read)
    thread.start()
    deadline = time.monotonic() + 20
    while emu.request_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    emu.stop()
    thread.join(20)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert "error" in got or b"[DONE]" not in got.get("body", b"")


# -- one malformed event ------------------------------------------------------------------
def test_malformed_event_inserts_one_bad_data_line_and_keeps_every_real_event(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.malformed_event(after=2))
    data = data_lines(chat(emu, {**OPENAI_BODY, "stream": True}).content)
    bad = []
    for index, payload in enumerate(data[:-1]):
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            bad.append(index)
    assert bad == [3]  # the role chunk, two content chunks, then the bad one
    good = [json.loads(d) for i, d in enumerate(data[:-1]) if i not in bad]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in good) == ANSWER
    assert data[-1] == "[DONE]"


def test_malformed_event_count_and_ndjson(emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.malformed_event(after=1, count=4))
    raw = post(emu, "ollama", "/api/chat", {"model": "m", "messages": USER}, {}).content
    bad = 0
    for line in raw.splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad += 1
    assert bad == 4 and json.loads(raw.splitlines()[-1])["done"] is True


# -- content filter ---------------------------------------------------------------------------
def test_content_filter_prompt_is_openais_400_content_policy_violation(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.content_filter(), times=2)
    response = chat(emu)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error", None, "content_policy_violation")  # fmt: skip
    assert "safety system" in error["message"]
    with openai_client(emu) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=USER, stream=True)
    assert caught.value.code == "content_policy_violation"


def test_content_filter_output_is_a_200_with_finish_reason_content_filter(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.content_filter("output"), times=2)
    with openai_client(emu) as client:
        whole = client.chat.completions.create(model="m", messages=USER)
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert whole.choices[0].finish_reason == "content_filter"
    assert ANSWER.startswith(whole.choices[0].message.content or "-")
    assert 0 < len(whole.choices[0].message.content or "") < len(ANSWER)
    assert [c.choices[0].finish_reason for c in chunks][-1] == "content_filter"


@pytest.mark.parametrize("stage", ["prompt", "output"])
def test_content_filter_on_anthropic_is_stop_reason_refusal(
    emu: ProviderEmulator, stage: str
) -> None:
    emu.inject("anthropic", Fault.content_filter(stage), times=2)  # type: ignore[arg-type]
    with anthropic_client(emu) as client:
        message = client.messages.create(model="m", max_tokens=64, messages=USER)
        with client.messages.stream(model="m", max_tokens=64, messages=USER) as stream:
            streamed = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert message.stop_reason == final.stop_reason == "refusal"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert text == streamed
    assert (text == "") is (stage == "prompt")


def test_content_filter_in_the_anthropic_streams_message_delta(emu: ProviderEmulator) -> None:
    emu.inject("anthropic", Fault.content_filter())
    raw = messages(emu, {**ANTHROPIC_BODY, "stream": True}).content
    deltas = [json.loads(d) for d in data_lines(raw) if '"message_delta"' in d]
    assert deltas[0]["delta"]["stop_reason"] == "refusal"
    assert event_names(raw)[-1] == "message_stop"


@pytest.mark.parametrize("provider", ["ollama", "remote_gpu", "remote_gpu_openai",
                                      "huggingface_task"])  # fmt: skip
def test_content_filter_does_not_exist_where_the_provider_has_none(provider: str) -> None:
    with ProviderEmulator() as emu, pytest.raises(ValueError, match="no content filter"):
        emu.inject(provider, Fault.content_filter())


# -- context length ---------------------------------------------------------------------------
def test_context_length_openai_400_context_length_exceeded(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.context_length(limit=8192, tokens=9000))
    with openai_client(emu) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=USER, stream=True)
    assert caught.value.code == "context_length_exceeded"
    body: Any = caught.value.body
    assert body["type"] == "invalid_request_error" and body["param"] == "messages"
    expected = ("This model's maximum context length is 8192 tokens. However, your messages "
                "resulted in 9000 tokens.")  # fmt: skip
    assert body["message"].startswith(expected)


def test_context_length_anthropic_prompt_is_too_long(emu: ProviderEmulator) -> None:
    emu.inject("anthropic", Fault.context_length(limit=200000, tokens=204658))
    with anthropic_client(emu) as client, pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="m", max_tokens=64, messages=USER)
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "prompt is too long: 204658 tokens > 200000 maximum"


def test_context_length_llama_cpp_matches_the_real_servers_capture(emu: ProviderEmulator) -> None:
    golden = json.loads((GOLDEN / "error_exceed_context.json").read_text())
    emu.inject("remote_gpu_openai", Fault.context_length(limit=2048, tokens=3031))
    response = chat(emu, {**OPENAI_BODY, "stream": True}, provider="remote_gpu_openai")
    assert response.status_code == 400
    assert response.json() == golden  # byte-for-byte the same values, in the same shape


def test_context_length_on_the_task_api_is_tgis_422_validation(emu: ProviderEmulator) -> None:
    emu.inject("huggingface_task", Fault.context_length(limit=4096, tokens=5000))
    response = post(emu, "huggingface_task", "/models/gpt2", {"inputs": "x"})
    assert response.status_code == 422
    assert response.json() == {
        "error": "Input validation error: `inputs` must have less than 4096 tokens. Given: 5000",
        "error_type": "validation",
    }


def test_context_length_does_not_exist_on_ollama_which_truncates() -> None:
    with ProviderEmulator() as emu, pytest.raises(ValueError, match="truncates"):
        emu.inject("ollama", Fault.context_length())


def test_request_faults_pass_probes_by(emu: ProviderEmulator) -> None:
    rule = emu.inject("openai", Fault.context_length())
    models = requests.get(emu.url_for("openai") + "/models", headers=BEARER, timeout=30)
    assert models.status_code == 200 and rule.fired == 0
    assert chat(emu).status_code == 400 and rule.fired == 1


# -- prefill rejection ------------------------------------------------------------------------
def test_prefill_rejection_refuses_only_a_trailing_assistant_message(
    emu: ProviderEmulator,
) -> None:
    rule = emu.inject("remote_gpu_openai", Fault.prefill_rejection())
    assert chat(emu, provider="remote_gpu_openai").status_code == 200
    response = chat(emu, {**OPENAI_BODY, "messages": PREFILL}, provider="remote_gpu_openai")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": LLAMA_CPP_PREFILL_MESSAGE,
                                         "type": "invalid_request_error"}}  # fmt: skip
    assert rule.fired == 1


def test_prefill_rejection_on_openai_is_an_openai_shaped_400(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.prefill_rejection("prefill is not supported"))
    with openai_client(emu) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="m", messages=PREFILL)
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert caught.value.body["message"] == "prefill is not supported"  # type: ignore[index]


def test_prefill_rejection_does_not_exist_on_anthropic() -> None:
    with ProviderEmulator() as emu, pytest.raises(ValueError, match="prefill natively"):
        emu.inject("anthropic", Fault.prefill_rejection())


# -- a flapping provider ----------------------------------------------------------------------
@pytest.fixture
def clocked() -> Iterator[tuple[ProviderEmulator, FakeClock]]:
    clock = FakeClock()
    with ProviderEmulator(clock=clock.monotonic) as emulator:
        yield emulator, clock


def _gpu_statuses(emu: ProviderEmulator) -> tuple[int, int]:
    health = requests.get(emu.url_for("remote_gpu") + "/health", timeout=30).status_code
    return health, post(emu, "remote_gpu", "/generate", {"prompt": "x"}, {}).status_code


def test_flap_for_a_period_on_the_emulators_clock(
    clocked: tuple[ProviderEmulator, FakeClock],
) -> None:
    emu, clock = clocked
    emu.flap("remote_gpu", seconds=60)
    assert _gpu_statuses(emu) == (503, 503)  # the health endpoint too
    clock.advance(59)
    assert _gpu_statuses(emu) == (503, 503)
    clock.advance(1)
    assert _gpu_statuses(emu) == (200, 200)
    clock.advance(3600)
    assert _gpu_statuses(emu) == (200, 200)


def test_flap_for_a_number_of_requests(emu: ProviderEmulator) -> None:
    emu.flap("ollama", requests=3, fault=Fault.refuse())
    tags = emu.url_for("ollama") + "/api/tags"
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            requests.get(tags, timeout=30)
    assert requests.get(tags, timeout=30).status_code == 200
    assert post(emu, "ollama", "/api/chat", {"model": "m", "stream": False}, {}).ok


def test_during_schedules_an_outage_later_on(
    clocked: tuple[ProviderEmulator, FakeClock],
) -> None:
    emu, clock = clocked
    emu.inject("openai", Fault.http(503), during=(10, 20))
    statuses = []
    for _ in range(4):
        statuses.append(chat(emu).status_code)
        clock.advance(7)
    assert statuses == [200, 200, 503, 200]  # at 0, 7, 14 and 21 s


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "exactly one"), ({"seconds": 1, "requests": 1}, "exactly one"),
     ({"seconds": 0}, "positive"), ({"requests": 0}, "times")],
)  # fmt: skip
def test_flap_arguments_are_checked(
    emu: ProviderEmulator, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        emu.flap("openai", **kwargs)
    with pytest.raises(ValueError, match="during"):
        emu.inject("openai", Fault.hang(), during=(5, 5))


@pytest.mark.parametrize(
    "make",
    [lambda: Fault.keepalive_stall(after=-1), lambda: Fault.keepalive_stall(interval=0),
     lambda: Fault.malformed_event(count=0), lambda: Fault.content_filter("both"),
     lambda: Fault.context_length(limit=10, tokens=10)],
)  # fmt: skip
def test_issue13_fault_arguments_are_checked(make: Any) -> None:
    with pytest.raises(ValueError):
        make()
