"""Ollama's native chat API (a local server; free).

Wire (POST ``{base}/api/chat``)::

    {"model", "messages": [system first, ...], "stream": bool,
     "options": {"num_predict": max_tokens, "temperature": t, "top_p"?, "seed"?, "stop"?,
                 "presence_penalty"?, "frequency_penalty"?},
     "tools"?, "format"?: "json" | a JSON schema}

Images (base64, from ``data:`` URLs only), tool calls and results, tools and ``format``
are translated by :mod:`._ollama_chat`.

Reply: ``message.content`` (and ``message.tool_calls``: whole calls whose ``arguments``
object becomes JSON text; one that is not an object is a malformed reply), with a
reasoning model's thinking kept out of it: newer servers send it in ``message.thinking``;
older ones inline it as ``<think>...</think>`` at the start of the content, which is moved
to ``reasoning`` (in streams too, however the tags are split across chunks). Usage from
``prompt_eval_count``/``eval_count``; ``done_reason`` is the finish reason, normalised
(``stop``, ``length``; ``tool_calls`` when the reply holds calls). Errors:
``{"error": "..."}`` with a 4xx/5xx status (404: model not pulled). A 200 whose body is
``{"error": ...}`` is a :class:`ServerError`: the server failed while answering (the same
object that ends a failed stream), so a retry may help.

Stream: NDJSON objects (a chunk's tool calls are whole: one delta each, arguments
complete); the one with ``"done": true`` carries the counts and ends it; an
``{"error": ...}`` object raises :class:`ServerError`; a body that ends without the done
object raises :class:`ProviderConnectionError`. Health: ``GET {base}/api/tags``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..chat import ToolCallDelta
from ..errors import BadResponseError, ConfigurationError
from ..http import HttpCall, HttpReply
from ..settings import Settings
from ..streaming import NDJSONDecoder
from ..types import LLMRequest, ProviderName, Usage
from ._ollama_chat import finish, options, output_format, read_calls, turns, wire_tools
from ._wire import TerminatedDecoder, WireAdapter, as_dict, as_str, reported_error, usage_from
from .base import Completion, StreamEvent

__all__ = ["OllamaAdapter", "OllamaStreamDecoder", "ThinkSplitter"]


class OllamaAdapter(WireAdapter):
    """An Ollama server at ``base_url`` (e.g. ``http://localhost:11434``)."""

    __slots__ = ("_chat_url",)
    capabilities = frozenset({"tools", "json_object", "json_schema", "images", "stop", "seed"})

    def __init__(self, *, base_url: str, default_model: str) -> None:
        base = base_url.rstrip("/")
        super().__init__(
            name=ProviderName.OLLAMA_LOCAL,
            paid=False,
            default_model=default_model,
            health_url=f"{base}/api/tags",
        )
        self._chat_url = f"{base}/api/chat"

    @classmethod
    def from_settings(cls, settings: Settings) -> OllamaAdapter:
        """``OLLAMA_BASE_URL`` (required) and ``OLLAMA_MODEL``."""
        if not settings.ollama_base_url:
            raise ConfigurationError("OLLAMA_BASE_URL", "not set (the provider is off)")
        return cls(base_url=settings.ollama_base_url, default_model=settings.ollama_model)

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        body: dict[str, Any] = {
            "model": request.model or self.default_model,
            "messages": turns(request),
            "stream": stream,
            "options": options(request),
        }
        tools = wire_tools(request)
        if tools is not None:
            body["tools"] = tools
        form = output_format(request)
        if form is not None:
            body["format"] = form
        return self._post_call(self._chat_url, body)

    def parse(self, reply: HttpReply) -> Completion:
        data = self._reply_json(reply)
        body = as_dict(data)
        if body.get("error"):
            raise reported_error(body, self._provider, self.secrets)
        message = as_dict(body.get("message"))
        calls = read_calls(message.get("tool_calls"), self._provider)
        content = message.get("content", "" if calls else None)
        if not isinstance(content, str):
            raise self._no_answer(data, "message.content", reply)
        reasoning = _thinking(message)
        if content.find("<think>", 0, 64) >= 0:  # an older server's inline reasoning
            splitter = ThinkSplitter()
            text, thought = splitter.feed(content)
            rest, more = splitter.finish()
            content, reasoning = text + rest, reasoning + thought + more
        return Completion(
            content=content,
            model=as_str(body.get("model")),
            usage=_usage(body),
            reasoning=reasoning or None,
            finish_reason=finish(as_str(body.get("done_reason")), bool(calls)),
            tool_calls=calls,
        )

    def stream_decoder(self) -> OllamaStreamDecoder:
        return OllamaStreamDecoder(self._provider)


class OllamaStreamDecoder(TerminatedDecoder[Any]):
    """NDJSON chat chunks to events; the object with ``"done": true`` terminates."""

    __slots__ = ("_lines", "_think", "_calls")

    def __init__(self, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(provider, secrets)
        self._lines = NDJSONDecoder(provider, secrets)
        self._think = ThinkSplitter()
        self._calls = 0

    def _frames(self, data: bytes) -> list[Any]:
        return self._lines.feed(data)

    def _last_frames(self) -> list[Any]:
        return self._lines.flush()

    def _handle(self, frame: Any, out: list[StreamEvent]) -> None:
        if not isinstance(frame, dict):
            raise BadResponseError("stream line is not a JSON object", provider=self.provider)
        chunk: Mapping[str, Any] = frame
        if chunk.get("error"):
            raise reported_error(chunk, self.provider, self.secrets)
        message = as_dict(chunk.get("message"))
        content = message.get("content")
        text, reasoning = self._think.feed(content if isinstance(content, str) else "")
        reasoning = _thinking(message) + reasoning
        calls = read_calls(message.get("tool_calls"), self.provider, self._calls)
        self._calls += len(calls)
        if chunk.get("done") is True:
            self.done = True
            rest, more = self._think.finish()
            text, reasoning = text + rest, reasoning + more
        if text or reasoning or calls:
            deltas = tuple(
                ToolCallDelta(self._calls - len(calls) + n, c.id, c.name, c.arguments)
                for n, c in enumerate(calls)
            )
            out.append(StreamEvent(text=text, reasoning=reasoning, tool_calls=deltas))
        if self.done:
            out.append(
                StreamEvent(
                    done=True,
                    usage=_usage(chunk),
                    finish_reason=finish(as_str(chunk.get("done_reason")), self._calls > 0),
                    model=as_str(chunk.get("model")),
                )
            )


def _thinking(message: Mapping[str, Any]) -> str:
    thinking = message.get("thinking")
    return thinking if isinstance(thinking, str) else ""


def _usage(body: Mapping[str, Any]) -> Usage | None:
    return usage_from(body, "prompt_eval_count", "eval_count")


_OPEN = "<think>"
_CLOSE = "</think>"
_START, _THINK, _AFTER, _ANSWER = range(4)


class ThinkSplitter:
    """Moves a leading ``<think>...</think>`` out of answer text, chunk by chunk.

    :meth:`feed` returns ``(answer, reasoning)`` for each piece of content; text that may
    be the start of a tag is held back until the next piece decides it. Whitespace before
    ``<think>`` and between ``</think>`` and the answer is dropped. Content that does not
    start with ``<think>`` passes through untouched. :meth:`finish` returns what is held
    at the end (an unclosed ``<think>`` leaves everything in reasoning).
    """

    __slots__ = ("_state", "_held")

    def __init__(self) -> None:
        self._state = _START
        self._held = ""

    def feed(self, text: str) -> tuple[str, str]:
        if self._state == _ANSWER:
            return text, ""
        text, self._held = self._held + text, ""
        reasoning = ""
        if self._state == _START:
            stripped = text.lstrip()
            if stripped.startswith(_OPEN):
                self._state, text = _THINK, stripped[len(_OPEN) :]
            elif _OPEN.startswith(stripped):
                self._held = text
                return "", ""
            else:
                self._state = _ANSWER
                return text, ""
        if self._state == _THINK:
            end = text.find(_CLOSE)
            if end < 0:
                keep = _partial_tag(text, _CLOSE)
                self._held = text[len(text) - keep :]
                return "", text[: len(text) - keep]
            reasoning, text = text[:end], text[end + len(_CLOSE) :]
            self._state = _AFTER
        text = text.lstrip()
        if text:
            self._state = _ANSWER
        return text, reasoning

    def finish(self) -> tuple[str, str]:
        """``(answer, reasoning)`` still held at the end of the content."""
        held, self._held = self._held, ""
        return ("", held) if self._state == _THINK else (held, "")


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
