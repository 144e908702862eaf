"""Anthropic's Messages API.

Wire (POST ``{base}/v1/messages``; ``x-api-key``, ``anthropic-version: 2023-06-01``)::

    {"model", "max_tokens", "messages": [user/assistant only], "temperature",
     "system"?: every system text joined, "stream"?: true, "top_p"?, "stop_sequences"?,
     "tools"?, "tool_choice"?}

System text (``request.system`` first, then any ``system`` messages, in order, joined by a
blank line) goes to the top-level ``system`` string: the Messages API has no system role.
``temperature`` is capped at 1.0, the top of Anthropic's range (the SDK accepts up to 2).
Images, tool calls and results, tools, ``tool_choice`` and structured output (a forced
tool) are translated by :mod:`._anthropic_chat`; ``seed`` and the penalties do not exist
in this protocol (``seed`` is not a capability here, the penalties are left out).

Reply: ``content[]`` text blocks joined (``thinking`` blocks kept apart as reasoning),
``tool_use`` blocks as tool calls (arguments: the ``input`` object as JSON text; one that
is not an object is a malformed reply), the structured-output tool's input as the JSON
content, ``usage.input_tokens``/``output_tokens``, ``stop_reason`` normalised
(``end_turn``/``stop_sequence`` -> stop, ``max_tokens`` -> length, ``tool_use`` ->
tool_calls, ``refusal`` -> content_filter). Errors are
``{"type": "error", "error": {"type", "message"}}``; 529 (overloaded) is a ServerError.

Health: ``GET {base}/v1/models`` with the key's headers (lists models; costs nothing).

Stream: SSE events ``message_start`` (model, input tokens), ``content_block_start`` (a
``tool_use`` block's id and name), ``content_block_delta`` (``text_delta`` -> text,
``thinking_delta`` -> reasoning, ``input_json_delta`` -> tool-call argument pieces by
call index, counting tool_use blocks only; the structured answer's pieces as text),
``content_block_stop`` (a call's whole arguments must be a JSON object),
``message_delta`` (output tokens, stop reason), ``message_stop`` (the terminator); ``ping``
and unknown events are ignored. An ``error`` event raises: ``overloaded_error`` a
ServerError with status 529, ``rate_limit_error`` :class:`RateLimited`, anything else a
ServerError. A body that ends cleanly after a ``stop_reason`` but before ``message_stop``
is complete. ``stop_reason: "refusal"`` (finish ``content_filter``) is raised by the
router as :class:`ContentFiltered`; a 400 ``invalid_request_error`` "prompt is too long"
is :class:`ContextLengthExceeded`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..chat import ToolCallDelta
from ..http import HttpCall, HttpReply
from ..settings import Settings
from ..streaming import SSEEvent
from ..types import LLMRequest, ProviderName, Usage
from ._anthropic_chat import (
    ANSWER_TOOLS,
    ANSWER_VALUE_TOOL,
    answer_text,
    conversation,
    finish_reason,
    read_blocks,
    tool_call,
    tools_and_choice,
)
from ._chat_wire import check_streamed_arguments
from ._wire import (
    SSEStreamDecoder,
    WireAdapter,
    as_dict,
    as_str,
    load_event_json,
    reported_error,
    token_count,
    usage_of,
)
from .base import Completion, StreamEvent

__all__ = ["AnthropicAdapter", "AnthropicStreamDecoder"]

API_VERSION = "2023-06-01"
MAX_TEMPERATURE = 1.0
#: Stream error types and the HTTP status each stands for (others: a plain ServerError).
_STREAM_ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429}


class AnthropicAdapter(WireAdapter):
    """The Messages API at ``base_url`` (``https://api.anthropic.com``); paid by default.
    A final assistant message is continued (a prefill), natively."""

    __slots__ = ("_messages_url",)
    accepts_prefill = True
    capabilities = frozenset(
        {"tools", "json_object", "json_schema", "images", "image_urls", "stop"}
    )

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        default_model: str,
        paid: bool = True,
        name: ProviderName = ProviderName.ANTHROPIC,
    ) -> None:
        base = base_url.rstrip("/")
        key = {"x-api-key": api_key} if api_key else {}
        super().__init__(
            name=name,
            paid=paid,
            default_model=default_model,
            secret=api_key,
            headers={**key, "anthropic-version": API_VERSION},
            health_url=f"{base}/v1/models",
        )
        self._messages_url = f"{base}/v1/messages"

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicAdapter:
        """``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``, ``ANTHROPIC_MODEL``; paid."""
        return cls(
            base_url=settings.anthropic_base_url,
            api_key=settings.anthropic_api_key,
            default_model=settings.anthropic_model,
        )

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        system, messages = conversation(request)
        body: dict[str, Any] = {
            "model": request.model or self.default_model,
            "max_tokens": request.max_tokens,
            "messages": messages,
            "temperature": min(request.temperature, MAX_TEMPERATURE),
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        tools, choice = tools_and_choice(request)
        if tools is not None:
            body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
        if stream:
            body["stream"] = True
        return self._post_call(self._messages_url, body)

    def parse(self, reply: HttpReply) -> Completion:
        data = self._reply_json(reply)
        body = as_dict(data)
        blocks = body.get("content")
        if not isinstance(blocks, list) or body.get("type", "message") != "message":
            raise self._no_answer(data, "content", reply)
        text, thinking, calls, answer = read_blocks(blocks, self._provider)
        stop = as_str(body.get("stop_reason"))
        return Completion(
            content=text if answer is None else answer,
            model=as_str(body.get("model")),
            usage=_usage_of(body.get("usage")),
            reasoning=thinking or None,
            finish_reason=finish_reason(stop, bool(calls), answer is not None),
            tool_calls=calls,
        )

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(self._provider, self.secrets)


@dataclass(slots=True)
class _ToolBlock:
    """A ``tool_use`` block being streamed: a call (``call`` its index among the calls)
    or the structured answer (``call`` None); its argument pieces so far."""

    name: str
    call: int | None
    start: Any = None
    pieces: list[str] = field(default_factory=list)


class AnthropicStreamDecoder(SSEStreamDecoder):
    """Messages API stream events to :class:`StreamEvent`; ``message_stop`` terminates."""

    __slots__ = ("_model", "_input", "_output", "_stop", "_blocks", "_calls", "_answered")

    def __init__(self, provider: str, secrets: tuple[str, ...]) -> None:
        super().__init__(provider, secrets)
        self._model: str | None = None
        self._input: int | None = None
        self._output: int | None = None
        self._stop: str | None = None
        self._blocks: dict[int, _ToolBlock] = {}
        self._calls = 0
        self._answered = False

    def _handle(self, frame: SSEEvent, out: list[StreamEvent]) -> None:
        data = load_event_json(frame.data, self.provider, self.secrets)
        kind = data.get("type") or frame.event
        if kind == "content_block_delta":
            self._delta(data.get("index"), as_dict(data.get("delta")), out)
        elif kind == "content_block_start":
            self._start(data.get("index"), as_dict(data.get("content_block")), out)
        elif kind == "content_block_stop":
            self._stop_block(data.get("index"), out)
        elif kind == "message_start":
            message = as_dict(data.get("message"))
            self._model = as_str(message.get("model"))
            self._counts(message.get("usage"))
        elif kind == "message_delta":
            self._stop = as_str(as_dict(data.get("delta")).get("stop_reason")) or self._stop
            self._counts(data.get("usage"))
        elif kind == "message_stop":
            self.done = True
            out.append(self._done_event())
        elif kind == "error":
            error_type = as_dict(data.get("error")).get("type")
            status = _STREAM_ERROR_STATUS.get(error_type) if isinstance(error_type, str) else None
            raise reported_error(data, self.provider, self.secrets, status)

    def _done_event(self) -> StreamEvent:
        return StreamEvent(
            done=True,
            usage=self._usage(),
            finish_reason=finish_reason(self._stop, self._calls > 0, self._answered),
            model=self._model,
        )

    def _finished(self) -> StreamEvent | None:
        """A body that ended cleanly after ``message_delta`` gave a ``stop_reason`` is
        complete without ``message_stop``."""
        return self._done_event() if self._stop else None

    def _start(self, index: Any, block: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """A ``tool_use`` block opens: a call's id and name go out at once (index
        ``self._calls``); the structured answer's block is only remembered."""
        if block.get("type") != "tool_use" or not isinstance(index, int):
            return
        name = block.get("name")
        if name in ANSWER_TOOLS:
            self._answered = True
            self._blocks[index] = _ToolBlock(name, None, block.get("input"))
            return
        call = tool_call({**block, "input": {}}, self.provider)  # checks the id and name
        self._blocks[index] = _ToolBlock(call.name, self._calls, block.get("input"))
        out.append(StreamEvent(tool_calls=(ToolCallDelta(self._calls, call.id, call.name),)))
        self._calls += 1

    def _delta(self, index: Any, delta: Mapping[str, Any], out: list[StreamEvent]) -> None:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if isinstance(text, str) and text:
                out.append(StreamEvent(text=text))
        elif kind == "thinking_delta":
            thinking = delta.get("thinking")
            if isinstance(thinking, str) and thinking:
                out.append(StreamEvent(reasoning=thinking))
        elif kind == "input_json_delta":
            piece = delta.get("partial_json")
            block = self._blocks.get(index) if isinstance(index, int) else None
            if block is None or not isinstance(piece, str) or not piece:
                return
            block.pieces.append(piece)
            out.extend(self._piece(block, piece))

    @staticmethod
    def _piece(block: _ToolBlock, piece: str) -> list[StreamEvent]:
        """A piece of arguments as it goes out: a call's delta, the answer's text; the
        wrapped answer's pieces wait for the block's end (its ``value`` is cut out)."""
        if block.call is not None:
            return [StreamEvent(tool_calls=(ToolCallDelta(block.call, arguments=piece),))]
        if block.name == ANSWER_VALUE_TOOL:
            return []
        return [StreamEvent(text=piece)]

    def _stop_block(self, index: Any, out: list[StreamEvent]) -> None:
        """A ``tool_use`` block ends: its whole arguments must be a JSON object (a
        malformed reply otherwise); input sent whole in the start event goes out now."""
        block = self._blocks.pop(index, None) if isinstance(index, int) else None
        if block is None:
            return
        if not block.pieces and isinstance(block.start, dict) and block.start:
            whole = json.dumps(block.start)
            block.pieces.append(whole)
            out.extend(self._piece(block, whole))
        text = "".join(block.pieces)
        if block.call is not None:
            check_streamed_arguments(text, self.provider, f"{block.name} input")
        elif block.name == ANSWER_VALUE_TOOL:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                value = None
            out.append(StreamEvent(text=answer_text(block.name, value, self.provider)))

    def _counts(self, usage: Any) -> None:
        """Take the token counts a usage object holds (message_delta's are cumulative)."""
        counts = as_dict(usage)
        prompt = _prompt_tokens(counts)
        if prompt is not None:
            self._input = prompt
        output = token_count(counts.get("output_tokens"))
        if output is not None:
            self._output = output

    def _usage(self) -> Usage | None:
        return usage_of(self._input, self._output)


#: The prompt's token counts in a Messages API usage object: tokens read from and written
#: to the prompt cache are reported apart from ``input_tokens``, and are billed too.
_PROMPT_KEYS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _prompt_tokens(counts: Any) -> int | None:
    found = [n for k in _PROMPT_KEYS if (n := token_count(counts.get(k))) is not None]
    return token_count(sum(found)) if found else None


def _usage_of(value: Any) -> Usage | None:
    counts = as_dict(value)
    return usage_of(_prompt_tokens(counts), counts.get("output_tokens"))
