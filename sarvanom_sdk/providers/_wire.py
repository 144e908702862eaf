"""What every HTTP adapter shares: its identity, read-only headers built once, the health
probe, reading a reply's status and JSON into the error tree, and the base of stream
decoders whose protocol marks its end (``[DONE]``, ``message_stop``, ``done: true``)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from ..chat import ToolCall, tool_call_problem
from ..errors import (
    BadResponseError,
    ContentFiltered,
    ContextLengthExceeded,
    ProviderConnectionError,
    ProviderError,
    ServerError,
    error_for_status,
    excerpt,
    redact,
)
from ..http import HttpCall, HttpReply, parse_retry_after
from ..streaming import SSEDecoder, SSEEvent
from ..types import ProviderName, Usage
from .base import StreamEvent

#: The header every JSON POST carries.
JSON_CONTENT = MappingProxyType({"Content-Type": "application/json"})
EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})


def frozen_headers(*parts: Mapping[str, str] | None) -> Mapping[str, str]:
    """One read-only header mapping from ``parts`` (later parts win), built once per adapter
    and shared by every call it builds, so building a call copies nothing."""
    merged: dict[str, str] = {}
    for part in parts:
        if part:
            merged.update(part)
    return MappingProxyType(merged)


def as_dict(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty mapping (for safe ``.get`` chains)."""
    return value if isinstance(value, dict) else EMPTY_MAPPING


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


#: The largest token count believed from a provider (F15): a billion tokens is far past
#: any model's context, and keeps every cost finite.
MAX_TOKEN_COUNT = 10**9


def token_count(value: Any) -> int | None:
    """A provider's token count clamped to ``0 <= n <= MAX_TOKEN_COUNT`` (F15: a negative
    count would refill a budget, a huge one overflow the cost); None unless a JSON int."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return min(max(value, 0), MAX_TOKEN_COUNT)


def usage_of(prompt: Any, completion: Any) -> Usage | None:
    """A :class:`Usage` from two raw counts (each clamped by :func:`token_count`); None when
    neither is a count. The one place provider token counts are read."""
    prompt, completion = token_count(prompt), token_count(completion)
    if prompt is None and completion is None:
        return None
    return Usage(prompt or 0, completion or 0)


def usage_from(value: Any, prompt_key: str, completion_key: str) -> Usage | None:
    """Token counts from a JSON object (clamped); None when it holds neither count."""
    data = as_dict(value)
    return usage_of(data.get(prompt_key), data.get(completion_key))


def error_detail(data: Any) -> str | None:
    """The provider's own words in an error body, whichever common shape it has:
    ``{"error": {"type", "message"}}`` (OpenAI, Anthropic), ``{"error": "..."}`` (Ollama,
    Hugging Face; also a list of strings), ``{"detail": ...}`` (FastAPI) or a string
    ``{"message": "..."}``. None when ``data`` has none of them."""
    body = as_dict(data)
    error = body.get("error")
    if isinstance(error, dict):
        message, kind = error.get("message"), error.get("type")
        parts = [str(p) for p in (kind, message) if isinstance(p, str) and p]
        return ": ".join(parts) or json.dumps(error)[:200]
    if isinstance(error, str):
        return error
    if isinstance(error, list):
        return "; ".join(str(item) for item in error)
    detail = body.get("detail")
    if detail is not None:
        return detail if isinstance(detail, str) else json.dumps(detail)[:200]
    message = body.get("message")
    return message if isinstance(message, str) else None


def lenient_json(reply: HttpReply) -> Any:
    """The body as JSON, or None when it is not JSON (for error bodies only)."""
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


def status_error(
    reply: HttpReply,
    provider: str,
    secrets: tuple[str, ...],
    data: Any = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The error for a non-2xx ``reply`` (``data``: its parsed body, if JSON).

    ``retry-after-ms``/``retry-after`` headers win over ``retry_after`` (a hint some
    providers put in the body). The detail is the provider's message, keys redacted.
    """
    detail = error_detail(data)
    if detail is None:
        head = reply.body.lstrip()[:1]
        detail = "HTML error page" if head == b"<" else reply.text() if head else "empty body"
    error = error_for_status(
        reply.status,
        redact(detail, secrets),
        provider=provider,
        retry_after=_first_known(parse_retry_after(reply.headers), retry_after),
    )
    cause = refusal_class(reply.status, data)
    if cause is None:
        return error
    return cause(str(error), provider=provider, status=reply.status)


#: Error codes of a content-policy refusal (OpenAI and compatible servers, Azure OpenAI).
_FILTER_CODES = frozenset({"content_policy_violation", "content_filter"})


def refusal_class(status: int, data: Any) -> type[ProviderError] | None:
    """The typed cause of a 4xx error body that is not the provider's fault (issue 13
    items 6-7), or None: a content-filter refusal (OpenAI ``code``
    ``content_policy_violation``/``content_filter`` on a 400) or a context-length error
    (OpenAI/Hugging Face ``code: context_length_exceeded``; llama.cpp ``type:
    exceed_context_size_error``; Anthropic's 400 ``invalid_request_error`` "prompt is too
    long: ...")."""
    if not 400 <= status < 500:
        return None
    error = as_dict(as_dict(data).get("error"))
    code, kind, message = error.get("code"), error.get("type"), error.get("message")
    if status == 400 and code in _FILTER_CODES:
        return ContentFiltered
    if code == "context_length_exceeded" or kind == "exceed_context_size_error":
        return ContextLengthExceeded
    if (
        kind == "invalid_request_error"
        and isinstance(message, str)
        and message.startswith("prompt is too long")
    ):
        return ContextLengthExceeded
    return None


def _first_known(first: float | None, second: float | None) -> float | None:
    return second if first is None else first


def read_json(reply: HttpReply, provider: str, secrets: tuple[str, ...]) -> Any:
    """:meth:`HttpReply.json` (HTML, empty and malformed bodies are
    :class:`BadResponseError`) with this adapter's secrets kept out of the message."""
    try:
        return reply.json(provider)
    except BadResponseError as exc:
        message = str(exc)
        clean = redact(message, secrets)
        if clean == message:
            raise
        raise BadResponseError(clean, provider=provider, status=reply.status) from None


def no_answer(
    data: Any, what: str, provider: str, secrets: tuple[str, ...], status: int
) -> BadResponseError:
    """The error for a 2xx body that holds no answer: an error object served with a 2xx
    status (its message is quoted) or a body without ``what`` (its keys are named)."""
    detail = error_detail(data)
    if detail is not None:
        message = f"error object in a {status} reply: {excerpt(detail)}"
    elif isinstance(data, dict):
        keys = ", ".join(list(data)[:8]) or "none"
        message = f"no {what} in the reply (keys: {keys})"
    else:
        message = f"no {what} in the reply (a JSON {type(data).__name__})"
    return BadResponseError(redact(message, secrets), provider=provider, status=status)


def reported_error(
    data: Any, provider: str, secrets: tuple[str, ...], status: int | None = None
) -> ProviderError:
    """An error the provider reported in a body whose HTTP status was 2xx: an error event
    mid-stream, or Ollama's ``{"error"}`` served with 200. ``status`` is the HTTP status
    the error stands for when the protocol says (Anthropic's overloaded_error is a 529);
    without one it is a :class:`ServerError`."""
    detail = f"provider reported an error: {redact(error_detail(data) or 'no detail', secrets)}"
    if status is not None:
        return error_for_status(status, detail, provider=provider)
    return ServerError(excerpt(detail), provider=provider)


class MalformedEvent(BadResponseError):
    """One stream event that is not a JSON object: skipped and counted mid-stream (issue 13
    item 5), fatal as the last frame of a body or past :data:`MAX_MALFORMED_EVENTS`."""


#: Malformed events one stream may skip; one more is a provider error.
MAX_MALFORMED_EVENTS = 3


def load_event_json(text: str, provider: str, secrets: tuple[str, ...]) -> Mapping[str, Any]:
    """One stream event's JSON object; :class:`MalformedEvent` if it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        shown = excerpt(redact(text, secrets), 80)
        raise MalformedEvent(f"malformed stream event: {shown!r}", provider=provider)
    return data


#: Providers' finish reasons, normalised to :data:`sarvanom_sdk.chat.FINISH_REASONS`
#: (issue 14 item 2). A reason not listed is passed through as the provider said it.
FINISH_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "stop": "stop",
        "eos": "stop",
        "end_turn": "stop",
        "stop_sequence": "stop",
        "length": "length",
        "max_tokens": "length",
        "model_length": "length",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "tool_use": "tool_calls",
        "content_filter": "content_filter",
    }
)


def finish_reason(value: Any) -> str | None:
    """A provider's finish reason normalised (:data:`FINISH_ALIASES`); None unless a
    string."""
    if not isinstance(value, str):
        return None
    return FINISH_ALIASES.get(value, value)


def tool_call(call_id: Any, name: Any, arguments: Any, index: int, provider: str) -> ToolCall:
    """A :class:`ToolCall` from a provider's fields: ``arguments`` a JSON string (or an
    object, which is serialised; empty means ``{}``) that must hold a JSON object, a
    missing id made up from ``index``. :class:`BadResponseError` for a call without a
    name or with arguments that are not a JSON object (a malformed reply)."""
    if not isinstance(name, str) or not name:
        raise BadResponseError(f"tool call {index} has no function name", provider=provider)
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments, ensure_ascii=False)
    elif arguments is None or arguments == "":
        arguments = "{}"
    if not isinstance(arguments, str):
        raise BadResponseError(
            f"tool call {index} ({name}): arguments are not a JSON string", provider=provider
        )
    problem = tool_call_problem((ToolCall("", name, arguments),))
    if problem:
        raise BadResponseError(
            problem.replace("tool call 0", f"tool call {index}"), provider=provider
        )
    call_id = call_id if isinstance(call_id, str) and call_id else f"call_{index}"
    return ToolCall(call_id, name, arguments)


def bearer(token: str | None) -> dict[str, str]:
    """``Authorization: Bearer`` for ``token``; no header at all without one."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class WireAdapter:
    """What every HTTP adapter holds and does alike: its identity and secret, its header
    sets (built once, read-only, shared by every call), the health probe, and the reading
    of a reply's status and JSON. Subclasses add ``build``, ``parse``, ``stream_decoder``.

    ``accepts_prefill``: the protocol continues a final assistant message (a prefill), so
    ``stream_recovery="continue"`` may send it the text a cut stream had delivered.
    """

    accepts_prefill: bool = False
    #: What the protocol translates (:data:`sarvanom_sdk.chat.CAPABILITIES` keys); none
    #: unless a subclass or instance says more (issue 14).
    capabilities: frozenset[str] = frozenset()
    #: The configured model's context window in tokens, when known.
    context_window: int | None = None

    __slots__ = (
        "name",
        "paid",
        "default_model",
        "secrets",
        "_provider",
        "_get",
        "_post",
        "_health",
    )

    def __init__(
        self,
        *,
        name: ProviderName,
        paid: bool,
        default_model: str,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        health_url: str | None = None,
    ) -> None:
        self.name = name
        self.paid = paid
        self.default_model = default_model
        self.secrets: tuple[str, ...] = (secret,) if secret else ()
        self._provider = name.value
        self._get = frozen_headers(headers)
        self._post = frozen_headers(headers, JSON_CONTENT)
        self._health = health_url

    def health_call(self) -> HttpCall | None:
        """``GET`` the health URL with this adapter's headers (None: no probe)."""
        if self._health is None:
            return None
        return HttpCall("GET", self._health, self._get, None, self.secrets)

    def _post_call(self, url: str, body: Any) -> HttpCall:
        return HttpCall("POST", url, self._post, body, self.secrets)

    def _reply_json(self, reply: HttpReply) -> Any:
        """The JSON of a 2xx reply; the mapped error for any other status, and
        :class:`BadResponseError` for a 2xx body that is not JSON."""
        if not 200 <= reply.status < 300:
            data = lenient_json(reply)
            raise status_error(reply, self._provider, self.secrets, data, self._retry_hint(data))
        return read_json(reply, self._provider, self.secrets)

    def _retry_hint(self, data: Any) -> float | None:
        """Seconds to wait named in an error body (used when no header names them)."""
        return None

    def _no_answer(self, data: Any, what: str, reply: HttpReply) -> BadResponseError:
        return no_answer(data, what, self._provider, self.secrets, reply.status)


Frame = TypeVar("Frame")


class TerminatedDecoder(ABC, Generic[Frame]):
    """A stream whose protocol marks its end (``[DONE]``, ``message_stop``, ``done:
    true``): frames are decoded as they complete, anything after the terminator is
    ignored, and :meth:`close` before the terminator raises
    :class:`ProviderConnectionError` (the stream was cut) — unless the last event carried
    the protocol's finish marker (a ``finish_reason``, a ``stop_reason``) and the body
    ended cleanly: some servers end a complete stream without the terminator (issue 13
    item 1). A malformed event mid-stream (after a valid one) is skipped and counted in
    ``malformed`` (item 5); more than :data:`MAX_MALFORMED_EVENTS` is a
    :class:`BadResponseError`."""

    __slots__ = ("provider", "secrets", "done", "malformed", "_valid")

    def __init__(self, provider: str, secrets: tuple[str, ...]) -> None:
        self.provider = provider
        self.secrets = secrets
        self.done = False
        self.malformed = 0
        self._valid = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        return [] if self.done else self._decode(self._frames(data), lenient=True)

    def close(self) -> list[StreamEvent]:
        """The events of a last frame left without its line end; a body that stopped
        before the terminator (even part-way through a frame) is a cut stream, unless the
        stream had finished (its finish marker came) and no frame was cut."""
        if self.done:
            return []
        try:
            events = self._decode(self._last_frames())
        except BadResponseError:
            events = []  # a frame cut part-way: the connection, not the provider, failed
        else:
            if not self.done:
                finished = self._finished()
                if finished is not None:
                    self.done = True
                    events.append(finished)
        if not self.done:
            raise ProviderConnectionError(
                "stream ended before its terminator", provider=self.provider
            )
        return events

    def _finished(self) -> StreamEvent | None:
        """The done event of a stream whose finish marker came, or None (a cut)."""
        return None

    def _decode(self, frames: list[Frame], lenient: bool = False) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for frame in frames:
            try:
                self._handle(frame, out)
                self._valid = True
            except MalformedEvent as error:
                self.malformed += 1
                # mid-stream only: a body that starts with garbage is not this protocol
                if not (lenient and self._valid) or self.malformed > MAX_MALFORMED_EVENTS:
                    raise BadResponseError(
                        f"{self.malformed} malformed events in one stream; last: {error}",
                        provider=self.provider,
                    ) from None
            if self.done:
                break
        return out

    @abstractmethod
    def _frames(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``."""

    @abstractmethod
    def _last_frames(self) -> list[Frame]:
        """The frames left at the end of the body."""

    @abstractmethod
    def _handle(self, frame: Frame, out: list[StreamEvent]) -> None:
        """Append ``frame``'s events to ``out``; set ``done`` at the terminator; raise
        ProviderError for an error frame."""


class SSEStreamDecoder(TerminatedDecoder[SSEEvent]):
    """A terminated stream framed as Server-Sent Events."""

    __slots__ = ("_sse",)

    def __init__(self, provider: str, secrets: tuple[str, ...]) -> None:
        super().__init__(provider, secrets)
        self._sse = SSEDecoder()

    def _frames(self, data: bytes) -> list[SSEEvent]:
        return self._sse.feed(data)

    def _last_frames(self) -> list[SSEEvent]:
        return self._sse.flush()
