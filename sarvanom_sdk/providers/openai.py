"""The OpenAI Chat Completions protocol, for OpenAI and every server that speaks it.

One adapter serves api.openai.com, vLLM, llama.cpp's server, TGI, LM Studio, Groq,
OpenRouter and Hugging Face's router: the Hugging Face and remote-GPU adapters construct an
:class:`OpenAIAdapter` with their own name, URL and key instead of repeating the protocol.

Wire (POST ``{base}/chat/completions``, ``Authorization: Bearer`` only when a key is set)::

    {"model", "messages": [system first, ...], "max_tokens", "temperature",
     "stream": true, "stream_options": {"include_usage": true}}   # last two only to stream

Reply: ``choices[0].message.content`` (``reasoning_content``/``reasoning`` kept apart),
``usage``, ``model``, ``finish_reason``. A 2xx body without that content (an error object
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

from collections.abc import Mapping
from typing import Any

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
    load_event_json,
    reported_error,
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

    __slots__ = ("_chat_url", "accepts_prefill")

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
    ) -> None:
        base = base_url.rstrip("/")
        self.accepts_prefill = accepts_prefill
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
        """POST the chat; ``request.system`` goes first as a system message."""
        messages = request.chat_messages()
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        body: dict[str, Any] = {
            "model": request.model or self.default_model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return self._post_call(self._chat_url, body)

    def parse(self, reply: HttpReply) -> Completion:
        """``choices[0].message.content`` of a 2xx reply; a refusal counts as the content."""
        data = self._reply_json(reply)
        body = as_dict(data)
        choice = _first_choice(body)
        message = as_dict(choice.get("message"))
        content = message.get("content")
        if content is None:
            content = message.get("refusal")
        if not isinstance(content, str):
            raise self._no_answer(data, "choices[0].message.content", reply)
        return Completion(
            content=content,
            model=as_str(body.get("model")),
            usage=usage_from(body.get("usage"), "prompt_tokens", "completion_tokens"),
            reasoning=_reasoning(message) or None,
            finish_reason=as_str(choice.get("finish_reason")),
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
        self._finish = as_str(choice.get("finish_reason")) or self._finish
        delta = as_dict(choice.get("delta"))
        text = delta.get("content")
        text = text if isinstance(text, str) else ""
        reasoning = _reasoning(delta)
        if text or reasoning:
            out.append(StreamEvent(text=text, reasoning=reasoning))

    def _done_event(self) -> StreamEvent:
        usage = usage_from(self._usage, "prompt_tokens", "completion_tokens")
        return StreamEvent(done=True, usage=usage, finish_reason=self._finish, model=self._model)

    def _finished(self) -> StreamEvent | None:
        """A body that ended cleanly after a chunk with a ``finish_reason`` is complete
        without ``data: [DONE]`` (vLLM, some proxies); its usage chunk is kept."""
        return self._done_event() if self._finish else None


def _first_choice(body: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = body.get("choices")
    if isinstance(choices, list) and choices:
        return as_dict(choices[0])
    return EMPTY_MAPPING


def _reasoning(message: Mapping[str, Any]) -> str:
    """Reasoning text: ``reasoning_content`` (vLLM, DeepSeek) or ``reasoning`` (OpenRouter)."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""
