"""The OpenAI Chat Completions protocol, for OpenAI and every server that speaks it.

One adapter serves api.openai.com, vLLM, llama.cpp's server, TGI, LM Studio, Groq,
OpenRouter and Hugging Face's router: the Hugging Face and remote-GPU adapters construct an
:class:`OpenAIAdapter` with their own name, URL and key instead of repeating the protocol.

Wire (POST ``{base}/chat/completions``, ``Authorization: Bearer`` only when a key is set)::

    {"model", "messages": [system first, ...], "max_tokens", "temperature",
     "stream": true, "stream_options": {"include_usage": true}}   # last two only to stream

and, only when set (issue 14): ``tools`` (``[{"type": "function", "function": {"name",
"description", "parameters", "strict"}}]``) with ``tool_choice`` and
``parallel_tool_calls``, ``response_format`` (``json_object``, ``json_schema``),
``stop``, ``top_p``, ``seed``, ``presence_penalty``, ``frequency_penalty``. Messages go in
OpenAI's own shape: image parts, assistant ``tool_calls``, ``tool`` results. The adapter
declares every capability (:data:`~sarvanom_sdk.chat.CAPABILITIES`); a compatible server
that lacks one is configured with ``capabilities=``.

Reply: ``choices[0].message.content`` (``reasoning_content``/``reasoning`` kept apart),
``tool_calls`` (arguments must be a JSON object: else a malformed reply), ``usage``,
``model``, ``finish_reason`` (normalised: ``function_call`` is ``tool_calls``). Streamed
``delta.tool_calls`` pieces become :class:`~sarvanom_sdk.chat.ToolCallDelta` values by
their ``index``. A 2xx body without that content (an error object
served with 200, empty ``choices``) is a :class:`BadResponseError`. The stream is SSE
``data:`` chunks ending ``data: [DONE]``; an ``{"error": ...}`` chunk raises
:class:`ServerError`; a stream that ends before ``[DONE]`` raises
:class:`ProviderConnectionError` unless a chunk with a ``finish_reason`` came and the body
ended cleanly (complete; some servers omit ``[DONE]``). A 400 whose ``error.code`` is
``content_policy_violation``/``content_filter`` is :class:`ContentFiltered`, and
``context_length_exceeded`` is :class:`ContextLengthExceeded` (see ``_wire``).

``max_tokens`` is sent rather than ``max_completion_tokens``: every compatible server reads
it, and OpenAI accepts it for its chat models (its o-series reasoning models do not).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..chat import ALL_CAPABILITIES, ToolCall, ToolCallDelta
from ..errors import BadResponseError
from ..http import HttpCall, HttpReply
from ..settings import Settings
from ..streaming import SSEEvent
from ..types import LLMRequest, ProviderName
from ._wire import (
    EMPTY_MAPPING,
    SSEStreamDecoder,
    WireAdapter,
    as_dict,
    as_str,
    bearer,
    finish_reason,
    load_event_json,
    reported_error,
    tool_call,
    usage_from,
)
from .base import Completion, StreamEvent

__all__ = ["OpenAIAdapter", "OpenAIStreamDecoder"]

# -- The OpenAI protocol ------------------------------------------------------------------


class OpenAIAdapter(WireAdapter):
    """An OpenAI-compatible Chat Completions endpoint at ``base_url`` (which ends before
    ``/chat/completions``, e.g. ``https://api.openai.com/v1``).

    ``name`` and ``paid`` say which provider this instance is; ``extra_headers`` are sent
    with every call (the key's header wins over them); ``health_url`` replaces the default
    health probe ``GET {base_url}/models``. ``accepts_prefill=True`` declares a server that
    continues a final assistant message (llama.cpp's server, vLLM with
    ``continue_final_message``); OpenAI itself does not, so the default is False.
    """

    __slots__ = ("_chat_url", "accepts_prefill", "capabilities", "context_window")

    def __init__(
        self,
        *,
        name: ProviderName = ProviderName.OPENAI,
        base_url: str,
        api_key: str | None = None,
        default_model: str,
        paid: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        health_url: str | None = None,
        accepts_prefill: bool = False,
        capabilities: frozenset[str] = ALL_CAPABILITIES,
        context_window: int | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self.accepts_prefill = accepts_prefill
        self.capabilities = capabilities
        self.context_window = context_window
        super().__init__(
            name=name,
            paid=paid,
            default_model=default_model,
            secret=api_key,
            headers={**(extra_headers or {}), **bearer(api_key)},
            health_url=health_url or f"{base}/models",
        )
        self._chat_url = f"{base}/chat/completions"

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIAdapter:
        """OpenAI itself: ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``; paid."""
        return cls(
            name=ProviderName.OPENAI,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            default_model=settings.openai_model,
            paid=True,
        )

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        """POST the chat; ``request.system`` goes first as a system message. The chat
        surface's fields go as OpenAI names them (:func:`chat_fields`)."""
        messages = request.chat_messages()
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        body: dict[str, Any] = {
            "model": request.model or self.default_model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.needs_chat_fields():
            body.update(chat_fields(request))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return self._post_call(self._chat_url, body)

    def parse(self, reply: HttpReply) -> Completion:
        """``choices[0].message`` of a 2xx reply: its ``content`` (a refusal counts as the
        content; none at all is fine beside ``tool_calls``), its ``tool_calls`` (each
        with arguments that are a JSON object, else :class:`BadResponseError`) and the
        normalised ``finish_reason``."""
        data = self._reply_json(reply)
        body = as_dict(data)
        choice = _first_choice(body)
        message = as_dict(choice.get("message"))
        calls = _message_tool_calls(message, self._provider)
        content = message.get("content")
        if content is None:
            content = message.get("refusal")
        if isinstance(content, list):  # some servers answer with content parts
            content = "".join(as_str(as_dict(p).get("text")) or "" for p in content)
        if content is None and calls:
            content = ""
        if not isinstance(content, str):
            raise self._no_answer(data, "choices[0].message.content", reply)
        return Completion(
            content=content,
            model=as_str(body.get("model")),
            usage=usage_from(body.get("usage"), "prompt_tokens", "completion_tokens"),
            reasoning=_reasoning(message) or None,
            finish_reason=finish_reason(choice.get("finish_reason")),
            tool_calls=calls,
        )

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(self._provider, self.secrets)


class OpenAIStreamDecoder(SSEStreamDecoder):
    """Chat Completions SSE chunks to events; ``data: [DONE]`` is the terminator.

    Usage arrives in a last chunk with empty ``choices`` (``include_usage``) and the finish
    reason in the chunk before it; both are reported on the done event.
    """

    __slots__ = ("_usage", "_finish", "_model")

    def __init__(self, provider: str, secrets: tuple[str, ...]) -> None:
        super().__init__(provider, secrets)
        self._usage: Any = None
        self._finish: str | None = None
        self._model: str | None = None

    def _handle(self, frame: SSEEvent, out: list[StreamEvent]) -> None:
        if frame.data == "[DONE]":
            self.done = True
            out.append(self._done_event())
            return
        chunk = load_event_json(frame.data, self.provider, self.secrets)
        if chunk.get("error"):
            raise reported_error(chunk, self.provider, self.secrets)
        self._model = as_str(chunk.get("model")) or self._model
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        choice = _first_choice(chunk)
        self._finish = finish_reason(choice.get("finish_reason")) or self._finish
        delta = as_dict(choice.get("delta"))
        text = delta.get("content")
        text = text if isinstance(text, str) else ""
        reasoning = _reasoning(delta)
        calls = _delta_tool_calls(delta.get("tool_calls"))
        if text or reasoning or calls:
            out.append(StreamEvent(text=text, reasoning=reasoning, tool_calls=calls))

    def _done_event(self) -> StreamEvent:
        usage = usage_from(self._usage, "prompt_tokens", "completion_tokens")
        return StreamEvent(done=True, usage=usage, finish_reason=self._finish, model=self._model)

    def _finished(self) -> StreamEvent | None:
        """A body that ended cleanly after a chunk with a ``finish_reason`` is complete
        without ``data: [DONE]`` (vLLM, some proxies); its usage chunk is kept."""
        return self._done_event() if self._finish else None


def chat_fields(request: LLMRequest) -> dict[str, Any]:
    """The chat surface's fields in OpenAI's request shape (issue 14): ``tools`` (with
    ``tool_choice`` and ``parallel_tool_calls``, sent only beside tools, as OpenAI
    requires), ``response_format``, ``stop``, ``top_p``, ``seed``, ``presence_penalty``,
    ``frequency_penalty``; only those set."""
    out: dict[str, Any] = {}
    if request.tools:
        out["tools"] = [tool.to_openai() for tool in request.tools]
        if request.tool_choice is not None:
            out["tool_choice"] = request.tool_choice.to_openai()
        if request.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = request.parallel_tool_calls
    if request.response_format is not None:
        out["response_format"] = request.response_format.to_openai()
    if request.stop:
        out["stop"] = list(request.stop)
    for name in ("top_p", "seed", "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            out[name] = value
    return out


def _message_tool_calls(message: Mapping[str, Any], provider: str) -> tuple[ToolCall, ...]:
    """``message.tool_calls`` (or the legacy ``function_call``) as checked calls."""
    raw = message.get("tool_calls")
    if raw is None and isinstance(message.get("function_call"), dict):
        raw = [{"function": message["function_call"]}]
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise BadResponseError("tool_calls is not a list", provider=provider)
    calls = []
    for index, item in enumerate(raw):
        item = as_dict(item)
        function = as_dict(item.get("function"))
        calls.append(
            tool_call(
                item.get("id"), function.get("name"), function.get("arguments"), index, provider
            )
        )
    return tuple(calls)


def _delta_tool_calls(raw: Any) -> tuple[ToolCallDelta, ...]:
    """A chunk's ``delta.tool_calls`` pieces, by ``index`` (its position when a server
    leaves it out); arguments given as an object (some servers) are serialised."""
    if not isinstance(raw, list) or not raw:
        return ()
    deltas = []
    for position, item in enumerate(raw):
        item = as_dict(item)
        function = as_dict(item.get("function"))
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            index = position
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        deltas.append(
            ToolCallDelta(
                index,
                as_str(item.get("id")) or None,
                as_str(function.get("name")) or None,
                arguments if isinstance(arguments, str) else "",
            )
        )
    return tuple(deltas)


def _first_choice(body: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = body.get("choices")
    if isinstance(choices, list) and choices:
        return as_dict(choices[0])
    return EMPTY_MAPPING


def _reasoning(message: Mapping[str, Any]) -> str:
    """Reasoning text: ``reasoning_content`` (vLLM, DeepSeek) or ``reasoning`` (OpenRouter)."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""
