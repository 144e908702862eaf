"""Issue 12, F12 and F15: text that cannot be encoded and provider counts that cannot be
believed never escape as exceptions or corrupt the budget."""

from __future__ import annotations

import json

import pytest

from sarvanom_sdk.errors import InvalidRequestError
from sarvanom_sdk.http import HttpCall, HttpReply
from sarvanom_sdk.layers.cache import request_key
from sarvanom_sdk.layers.cost import BudgetLedger, CostGate, cost_usd
from sarvanom_sdk.providers import AnthropicAdapter, OllamaAdapter, OpenAIAdapter
from sarvanom_sdk.types import LLMRequest, ProviderName, Usage

HALF = "\ud83d"  # half of an emoji: valid JSON escape, not encodable
OPENAI = OpenAIAdapter(base_url="https://api.openai.com/v1", api_key="k", default_model="gpt-4o")
ANTHROPIC = AnthropicAdapter(
    base_url="https://api.anthropic.com", api_key="k", default_model="claude-3-5-haiku-latest"
)
OLLAMA = OllamaAdapter(base_url="http://127.0.0.1:11434", default_model="m")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"prompt": f"hi {HALF}"}, "prompt"),
        ({"messages": [{"role": "user", "content": f"a{HALF}"}]}, "messages[0].content"),
        ({"prompt": "hi", "system": f"be {HALF}"}, "system"),
        ({"prompt": "hi", "provider": "openai", "model": f"gpt{HALF}"}, "model"),
    ],
)
def test_F12_a_lone_surrogate_is_an_invalid_request_naming_its_field(fields, named):
    with pytest.raises(InvalidRequestError) as info:
        LLMRequest(**fields)
    assert info.value.field == named
    assert "surrogate" in str(info.value)


def test_F12_a_surrogate_pair_is_a_whole_character_and_accepted():
    assert LLMRequest(prompt="hi \ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16"))


def test_F12_the_cache_key_and_the_body_never_raise_on_a_lone_surrogate():
    request = LLMRequest(prompt="hi")
    object.__setattr__(request, "prompt", f"x{HALF}")  # past validation, as a layer might
    assert len(request_key(request, "chain")) == 64
    body = HttpCall("POST", "http://x", json={"text": f"x{HALF}"}).body_bytes()
    assert json.loads(body) == {"text": f"x{HALF}"}


def _sse(*events: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((10**400, 5), (10**9, 5)), ((-50_000_000, -3), (0, 0)), ((True, 7), (0, 7))],
)
def test_F15_openai_usage_counts_are_clamped(counts, expected):
    body = {
        "model": "gpt-4o",
        "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": counts[0], "completion_tokens": counts[1]},
    }
    completion = OPENAI.parse(HttpReply(200, {}, json.dumps(body).encode()))
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == expected


def test_F15_anthropic_and_ollama_counts_are_clamped_too():
    body = {
        "type": "message",
        "content": [{"type": "text", "text": "ok"}],
        "usage": {"input_tokens": 10**400, "cache_read_input_tokens": 10**400, "output_tokens": -9},
    }
    usage = ANTHROPIC.parse(HttpReply(200, {}, json.dumps(body).encode())).usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (10**9, 0)
    decoder = ANTHROPIC.stream_decoder()
    events = decoder.feed(
        _sse(
            {"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": -4}}},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"output_tokens": 10**30}},
            {"type": "message_stop"},
        )
    )
    assert events[-1].usage == Usage(0, 10**9)
    body = {"message": {"content": "ok"}, "done": True, "prompt_eval_count": -1,
            "eval_count": 10**20}
    usage = OLLAMA.parse(HttpReply(200, {}, json.dumps(body).encode())).usage
    assert usage == Usage(0, 10**9)


def test_F15_a_cost_is_never_negative_nor_infinite_and_never_refills_the_budget():
    assert cost_usd("gpt-4o", Usage(-10**12, -5)) == 0.0
    huge = cost_usd("unknown-paid", Usage(10**400, 10**400))
    assert huge == huge and huge < float("inf")
    ledger = BudgetLedger(1.0)
    gate = CostGate(True, ledger)
    hold = gate.hold(ProviderName.OPENAI, "gpt-4o", LLMRequest(prompt="hi", max_tokens=10))
    gate.settle(hold, ProviderName.OPENAI, "gpt-4o", Usage(-50_000_000, -50_000_000))
    assert ledger.spent_usd == 0.0 and ledger.remaining() == 1.0


def test_F15_a_lone_surrogate_in_an_answer_is_replaced_and_encodable():
    body = '{"choices":[{"message":{"content":"cut \\ud83d emoji"}}]}'
    completion = OPENAI.parse(HttpReply(200, {}, body.encode()))
    assert completion.content == "cut \ufffd emoji"
    completion.content.encode("utf-8")
    events = OPENAI.stream_decoder().feed(
        b'data: {"choices":[{"delta":{"content":"x\\udc00"}}]}\n\n'
    )
    assert events[0].text == "x\ufffd"
    pair = '{"choices":[{"message":{"content":"\\ud83d\\ude00"}}]}'
    assert OPENAI.parse(HttpReply(200, {}, pair.encode())).content == "\U0001f600"
