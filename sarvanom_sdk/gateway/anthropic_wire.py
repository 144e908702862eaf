"""Anthropic's Messages API wire format, sans-IO: request bodies in, answers and stream
events out, errors in Anthropic's shape. :mod:`.anthropic_compat` serves it.

Requests (``POST /v1/messages``): ``model`` (the gateway's names, as on the OpenAI endpoint:
``sarvanom/auto``, ``sarvanom/<provider>[/<model>]``), ``max_tokens`` (required),
``messages`` (roles ``user`` and ``assistant``; content a string or blocks: text, image,
tool_use, tool_result; see :mod:`.anthropic_content`), ``system`` (a string or ``text``
blocks), ``temperature`` (default 1.0, Anthropic's), ``top_p``, ``stop_sequences`` (at
most 4), ``tools``, ``tool_choice``, ``output_config.format`` (a JSON schema: the SDK's
``response_format``), ``stream``. ``metadata``, ``top_k``, ``thinking``, ``service_tier``,
``output_config.effort``, ``cache_control`` and unknown fields are accepted and ignored.
``cache`` (a boolean, not Anthropic's) chooses whether the response cache is used, as on
the OpenAI endpoint.

Answers: ``{"id": "msg_...", "type": "message", "role": "assistant", "model", "content",
"stop_reason", "stop_sequence", "usage": {"input_tokens", "output_tokens"}}``; ``content``
is a text block (when there is text) then a ``tool_use`` block per tool call; ``model``
names what really answered (``sarvanom/<provider>/<model>``). ``stop_reason`` is
``end_turn``, ``max_tokens``, ``tool_use`` or ``refusal`` (providers do not say which stop
sequence ended an answer, so ``stop_sequence`` is null).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..chat import MAX_STOP_SEQUENCES, ToolCallDelta
from ..types import LLMRequest, LLMResponse
from . import anthropic_content as content
from .anthropic_content import bad
from .limits import GatewayError
from .openai_compat import answered_as, resolve_model

if TYPE_CHECKING:
    from ..settings import Settings

#: Anthropic's default temperature (the SDK's own default is 0.7).
DEFAULT_TEMPERATURE = 1.0
#: Anthropic's error ``type`` for an HTTP status; other 4xx are invalid_request_error,
#: other 5xx api_error.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_STOP_REASONS = {
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "model_length": "max_tokens",
    "content_filter": "refusal",
    "refusal": "refusal",
    "tool_calls": "tool_use",
}
#: Characters per token for :func:`estimate_input_tokens` (English text, BPE tokenizers).
CHARS_PER_TOKEN = 4
#: Tokens a message's framing costs in the estimate (role markers and separators).
TOKENS_PER_MESSAGE = 4


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": error_type(error.status), "message": error.message},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _max_tokens(value: Any) -> int:
    if value is None:
        raise bad("max_tokens", "required (the most tokens the answer may have), e.g. 1024")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad("max_tokens", f"must be an integer >= 1, got {str(value)[:50]}")
    return value


def _stream_flag(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad("stream", "must be true or false")
    return value


def _stop_sequences(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise bad("stop_sequences", "must be an array of non-empty strings")
    if len(value) > MAX_STOP_SEQUENCES:
        raise bad("stop_sequences", f"at most {MAX_STOP_SEQUENCES} on this gateway")
    return value


def _output_format(value: Any) -> dict[str, Any] | None:
    """``output_config.format`` (``{"type": "json_schema", "schema"}``) as OpenAI's
    ``response_format``; ``output_config.effort`` is ignored."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("output_config", "must be an object")
    form = value.get("format")
    if form is None:
        return None
    if not isinstance(form, dict) or form.get("type") != "json_schema":
        raise bad("output_config.format", "must be {'type': 'json_schema', 'schema': {...}}")
    return {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": form.get("schema")},
    }


@dataclass(frozen=True, slots=True)
class MessagesCall:
    """A parsed Messages API request: LLMRequest keyword arguments (before the caller
    policy and cache rule) and whether to stream."""

    fields: dict[str, Any]
    stream: bool


def parse_messages(body: Mapping[str, Any], settings: Settings, trace_id: str) -> MessagesCall:
    """A Messages API body as :class:`MessagesCall`; 400/404 naming the field."""
    provider, model = resolve_model(body.get("model"), settings)
    fields: dict[str, Any] = {
        "messages": content.messages(body.get("messages")),
        "max_tokens": _max_tokens(body.get("max_tokens")),
        "trace_id": trace_id,
    }
    system = body.get("system")
    if system is not None:
        fields["system"] = content.text_blocks(system, "system")
    temperature = body.get("temperature")
    fields["temperature"] = DEFAULT_TEMPERATURE if temperature is None else temperature
    if body.get("top_p") is not None:
        fields["top_p"] = body["top_p"]
    stop = _stop_sequences(body.get("stop_sequences"))
    if stop:
        fields["stop"] = stop
    tools = content.tools(body.get("tools"))
    if tools:
        fields["tools"] = tools
    choice, parallel = content.tool_choice(body.get("tool_choice"))
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    form = _output_format(body.get("output_config"))
    if form is not None:
        fields["response_format"] = form
    if provider is not None:
        fields["provider"] = provider
    if model is not None:
        fields["model"] = model
    if body.get("cache") is not None:
        if not isinstance(body["cache"], bool):
            raise bad("cache", "must be true or false")
        fields["cache"] = body["cache"]
    return MessagesCall(fields, _stream_flag(body.get("stream")))


def estimate_input_tokens(request: LLMRequest) -> int:
    """An estimate of the prompt's tokens (no provider's tokenizer is consulted): its text
    and tool definitions' characters / :data:`CHARS_PER_TOKEN`, plus
    :data:`TOKENS_PER_MESSAGE` a message. Images are not counted."""
    messages = len(request.messages or ()) + (1 if request.system else 0)
    chars = request.prompt_chars()
    if request.tools:
        chars += len(json.dumps([tool.to_openai() for tool in request.tools]))
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * messages


def stop_reason(response: LLMResponse | None) -> str:
    reason = response.finish_reason if response is not None else None
    return _STOP_REASONS.get(reason or "", "end_turn")


def _usage(response: LLMResponse | None, estimate: int) -> dict[str, int]:
    usage = response.usage if response is not None else None
    if usage is None:
        return {"input_tokens": estimate, "output_tokens": 0}
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def message_body(response: LLMResponse, message_id: str, estimate: int) -> dict[str, Any]:
    """The non-streamed answer; ``estimate``: the input tokens when the provider gave no
    usage."""
    content: list[dict[str, Any]] = []
    if response.content:
        content.append({"type": "text", "text": response.content})
    for call in response.tool_calls:
        content.append(_tool_use(call.id, call.name, call.parsed_arguments()))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": answered_as(response.provider, response.model),
        "content": content,
        "stop_reason": stop_reason(response),
        "stop_sequence": None,
        "usage": _usage(response, estimate),
    }


def _tool_use(call_id: str | None, name: str | None, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id or "", "name": name or "", "input": arguments}


def sse(event: str, payload: Mapping[str, Any]) -> bytes:
    """One server-sent event: ``event: <name>`` and its JSON ``data``."""
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


def text_delta_event(index: int, text: str) -> bytes:
    """``sse("content_block_delta", {"type": "content_block_delta", "index": index,
    "delta": {"type": "text_delta", "text": text}})`` byte for byte, encoding only the text
    (the event of almost every chunk; issue 18)."""
    return (
        'event: content_block_delta\ndata: {"type": "content_block_delta", "index": '
        f'{index:d}, "delta": {{"type": "text_delta", "text": {json.dumps(text)}}}}}\n\n'
    ).encode()


class InterleavedToolCalls(Exception):
    """A stream's tool-call pieces came in an order Anthropic's events cannot carry."""


class StreamEvents:
    """The event sequence of a streamed answer, as bytes to write: :meth:`start`
    (``message_start``), :meth:`text` (a text block opened on first use, followed by
    ``ping`` for the first block, then ``content_block_delta``), :meth:`tool_call` (a
    ``tool_use`` block per call, ``input_json_delta`` pieces), :meth:`finish`
    (``content_block_stop``, ``message_delta`` with stop_reason and usage,
    ``message_stop``), or :meth:`error` (an ``error`` event; no ``message_stop``)."""

    def __init__(self, message_id: str, model: str, estimate: int) -> None:
        self._id = message_id
        self._model = model
        self._estimate = estimate
        self._index = -1
        self._open: str | None = None
        #: the tool call (its index in the SDK's deltas) the open tool_use block holds
        self._call: int | None = None
        self._calls_done: set[int] = set()

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._estimate, "output_tokens": 0},
        }
        return sse("message_start", {"type": "message_start", "message": message})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        if self._call is not None:
            self._calls_done.add(self._call)
            self._call = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _open_block(self, kind: str, block: Mapping[str, Any]) -> bytes:
        out = self._close_block()
        self._index += 1
        self._open = kind
        out += sse(
            "content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )
        return out + (sse("ping", {"type": "ping"}) if self._index == 0 else b"")

    def text(self, text: str) -> bytes:
        """A piece of the answer's text (empty: nothing)."""
        if not text:
            return b""
        out = b""
        if self._open != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
        return out + text_delta_event(self._index, text)

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        """A piece of a tool call: its first piece opens a ``tool_use`` block, argument
        text goes out as ``input_json_delta``. Raises :class:`InterleavedToolCalls` for a
        piece of a call whose block was already closed (Anthropic's stream cannot reopen
        it)."""
        out = b""
        if delta.index != self._call:
            if delta.index in self._calls_done:
                raise InterleavedToolCalls(
                    "the provider interleaved the pieces of two tool calls, which Anthropic's "
                    "stream format cannot carry; retry without streaming"
                )
            out = self._open_block("tool_use", _tool_use(delta.id, delta.name, {}))
            self._call = delta.index
        if not delta.arguments:
            return out
        piece = {"type": "input_json_delta", "partial_json": delta.arguments}
        return out + sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": piece},
        )

    def finish(self, response: LLMResponse | None) -> bytes:
        usage = _usage(response, self._estimate)
        delta = {"stop_reason": stop_reason(response), "stop_sequence": None}
        return (
            self._close_block()
            + sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            + sse("message_stop", {"type": "message_stop"})
        )

    @staticmethod
    def error(error: GatewayError) -> bytes:
        return sse("error", error_body(error))
