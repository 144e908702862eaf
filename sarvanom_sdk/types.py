"""The SDK's value types: requests, responses, the attempt trail and provider health.

All are immutable dataclasses. :class:`LLMRequest` validates itself on construction, so an
invalid request is refused with :class:`~sarvanom_sdk.errors.InvalidRequestError` before any
network call.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ._fastinit import fast_init
from .chat import (
    Content,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    content_to_openai,
    images_of,
    needed_capabilities,
    parse_content,
    parse_number,
    parse_seed,
    parse_stop,
    parse_tool_calls,
    parse_tools,
    text_of,
)
from .errors import InvalidRequestError

#: Upper bound accepted for ``max_tokens``. Providers have their own, lower, limits per model.
MAX_TOKENS_CAP = 32_768
#: Upper bound on the characters of a prompt (all messages and the system text together).
MAX_PROMPT_CHARS = 1_000_000
DEFAULT_MAX_TOKENS = 512
DEFAULT_TEMPERATURE = 0.7


class ProviderName(str, enum.Enum):
    """The providers, in the seed's free-first order."""

    OLLAMA_LOCAL = "ollama_local"
    REMOTE_GPU = "remote_gpu"
    HUGGINGFACE = "huggingface"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    LOCAL_STUB = "local_stub"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | ProviderName, field_name: str = "provider") -> ProviderName:
        """Return the member named ``value``; :class:`InvalidRequestError` otherwise."""
        if isinstance(value, ProviderName):
            return value
        known = _PROVIDERS_BY_VALUE.get(value) if type(value) is str else None
        if known is not None:
            return known
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(p.value for p in cls)
            raise InvalidRequestError(
                field_name, f"unknown provider {value!r}; allowed: {allowed}"
            ) from None


_PROVIDERS_BY_VALUE = {p.value: p for p in ProviderName}

#: Providers that cost money; used only when paid use is enabled.
PAID_PROVIDERS = frozenset({ProviderName.OPENAI, ProviderName.ANTHROPIC})


class HealthStatus(str, enum.Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    CIRCUIT_OPEN = "circuit_open"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class AttemptOutcome(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


ROLES = ("system", "user", "assistant", "tool")
_TEXT_ROLES = frozenset({"system", "user", "assistant"})
#: Per-request policies and their allowed values (the client settings of the same names).
_POLICIES = {
    "stream_recovery": ("raise", "restart", "continue"),
    "on_content_filter": ("raise", "fallback"),
}
TIERS = ("simple", "complex", "critical")
_NOTHING: frozenset[str] = frozenset()


@fast_init
@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation (validated when a request is built from it).

    ``content`` is a string or a tuple of parts (:class:`~sarvanom_sdk.chat.TextPart`,
    :class:`~sarvanom_sdk.chat.ImagePart`; images only in user messages); an assistant
    message that asks for ``tool_calls`` may have no content; a ``tool`` message is the
    result of the call ``tool_call_id`` names. ``name`` is an optional participant name.
    """

    role: str
    content: Content
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        """The text content (text parts joined; "" for none)."""
        return text_of(self.content)

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's message shape (only the keys this message uses)."""
        out: dict[str, Any] = {"role": self.role, "content": content_to_openai(self.content)}
        if self.tool_calls:
            out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def parse(cls, item: Any, where: str) -> Message:
        """A validated message from a :class:`Message` or OpenAI's message mapping."""
        role: Any
        content: Any
        calls: Any
        call_id: Any
        name: Any
        if isinstance(item, Message):
            role, content, calls, call_id, name = (
                item.role, item.content, item.tool_calls, item.tool_call_id, item.name
            )
        elif isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
            calls, call_id = item.get("tool_calls"), item.get("tool_call_id")
            name = item.get("name")
        else:
            raise InvalidRequestError(where, "must be a mapping with 'role' and 'content'")
        plain = type(content) is str and not calls and call_id is None and name is None
        if plain and role in _TEXT_ROLES and content.strip():  # plain text: the common case
            _encodable(f"{where}.content", content)
            return cls(role, content)
        if role not in ROLES:
            raise InvalidRequestError(
                f"{where}.role", f"unknown role {role!r}; allowed: {', '.join(ROLES)}"
            )
        tool_calls = parse_tool_calls(calls, f"{where}.tool_calls")
        if tool_calls and role != "assistant":
            raise InvalidRequestError(f"{where}.tool_calls", "only assistant messages have them")
        content = parse_content(
            role, content, f"{where}.content", has_tool_calls=bool(tool_calls)
        )
        if role == "tool":
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequestError(
                    f"{where}.tool_call_id", "a tool message needs the id of the call it answers"
                )
        elif call_id is not None:
            raise InvalidRequestError(f"{where}.tool_call_id", "only tool messages have one")
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidRequestError(f"{where}.name", "must be a non-empty string")
        message = cls(role, content, tool_calls, call_id, name)
        for text in message._texts():
            _encodable(f"{where}.content", text)
        return message

    def _texts(self) -> list[str]:
        texts = [self.text]
        texts.extend(call.arguments for call in self.tool_calls)
        return texts

    def chars(self) -> int:
        """Characters of text this message carries (content and tool-call arguments)."""
        if type(self.content) is str and not self.tool_calls:
            return len(self.content)
        return sum(len(t) for t in self._texts())


def _messages_from(value: Iterable[Any]) -> tuple[Message, ...]:
    out = tuple(Message.parse(item, f"messages[{index}]") for index, item in enumerate(value))
    if not out:
        raise InvalidRequestError("messages", "must contain at least one message")
    return out


def _encodable(field_name: str, text: str) -> None:
    """Refuse a lone UTF-16 surrogate (F12): valid in JSON and in a Python str, it cannot
    be sent to any provider (``UnicodeEncodeError``); clients that cut an emoji in half
    send one."""
    if text.isascii():  # no surrogate: skips the copy an encode makes
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            field_name,
            f"holds a lone UTF-16 surrogate at character {exc.start} (half of a character "
            "split in two); send whole characters",
        ) from None


_bits = random.getrandbits


def new_trace_id() -> str:
    """32 random hex digits (128 random bits, as many as a uuid4 has 122 of), from the
    ``random`` module as OpenTelemetry's own trace ids: no system call per request (issue
    18), and reseeded in a forked child by ``random`` itself, so a child never repeats its
    parent's ids. A trace id names a request; it is not a secret."""
    return _bits(128).to_bytes(16, "big").hex()


@fast_init
@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One completion request.

    Exactly one of ``prompt`` or ``messages`` (a list of ``{"role", "content"}``) is given.
    ``provider`` pins the request to one provider (the stub still answers if it fails,
    unless strict); ``model`` overrides the pinned provider's model (it needs a pin, since
    model names differ between providers); ``cache=False`` bypasses the response cache
    for this request; ``timeout`` overrides the client's total deadline in seconds.
    ``tier`` ("simple", "complex", "critical") asks for the matching preference order
    (see :mod:`sarvanom_sdk.routing`); ``hedge`` turns hedging on or off for this request.
    ``stream_recovery`` ("raise", "restart", "continue") and ``on_content_filter``
    ("raise", "fallback") override the client's settings of the same names.

    The chat surface (issue 14; values in :mod:`sarvanom_sdk.chat`, OpenAI's shapes
    accepted): ``tools``, ``tool_choice`` (auto/none/required/a named function),
    ``parallel_tool_calls``, ``response_format`` (text/json_object/json_schema; a pydantic
    model class too), ``stop`` (a string or up to 4), ``top_p`` (0 < p <= 1), ``seed``,
    ``presence_penalty``/``frequency_penalty`` (-2..2). Messages may carry image parts,
    assistant ``tool_calls`` and ``tool`` results. A request that needs a capability
    (:meth:`needed_capabilities`) is routed only to providers that declare it;
    ``top_p`` and the penalties are sent where a protocol has them and dropped elsewhere.
    """

    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    system: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    model: str | None = None
    provider: ProviderName | None = None
    cache: bool = True
    timeout: float | None = None
    tier: str | None = None
    hedge: bool | None = None
    trace_id: str = field(default_factory=new_trace_id)
    stream_recovery: str | None = None
    on_content_filter: str | None = None
    tools: tuple[Tool, ...] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    stop: tuple[str, ...] | None = None
    top_p: float | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if (self.prompt is None) == (self.messages is None):
            raise InvalidRequestError("prompt", "give exactly one of 'prompt' or 'messages'")
        if self.prompt is not None:
            if not isinstance(self.prompt, str) or not self.prompt or self.prompt.isspace():
                raise InvalidRequestError("prompt", "must be a non-empty string")
            _encodable("prompt", self.prompt)
        else:
            if isinstance(self.messages, (str, bytes)):
                raise InvalidRequestError("messages", "must be a list of messages, not a string")
            set_(self, "messages", _messages_from(self.messages or ()))
        if self.system is not None:
            if not isinstance(self.system, str):
                raise InvalidRequestError("system", "must be a string")
            _encodable("system", self.system)
        if type(self.max_tokens) is not int and (
            isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int)
        ):
            raise InvalidRequestError("max_tokens", f"must be an integer 1..{MAX_TOKENS_CAP}")
        if not 1 <= self.max_tokens <= MAX_TOKENS_CAP:
            raise InvalidRequestError(
                "max_tokens", f"must be between 1 and {MAX_TOKENS_CAP}, got {self.max_tokens}"
            )
        temp = self.temperature
        if isinstance(temp, bool) or not isinstance(temp, (int, float)) or math.isnan(temp):
            raise InvalidRequestError("temperature", "must be a number between 0 and 2")
        if not 0 <= temp <= 2:
            raise InvalidRequestError("temperature", f"must be between 0 and 2, got {temp}")
        if type(temp) is not float:
            set_(self, "temperature", float(temp))
        if self.provider is not None:
            set_(self, "provider", ProviderName.parse(self.provider))
        if self.model is not None:
            if not isinstance(self.model, str) or not self.model.strip():
                raise InvalidRequestError("model", "must be a non-empty string")
            _encodable("model", self.model)
            if self.provider is None:
                raise InvalidRequestError(
                    "model",
                    "a model override needs a provider pin (provider=...): model names "
                    "differ between providers",
                )
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, (int, float))
            or not 0 < self.timeout < math.inf
        ):
            raise InvalidRequestError("timeout", "must be a positive number of seconds")
        if not isinstance(self.cache, bool):
            raise InvalidRequestError("cache", "must be true or false")
        if self.tier is not None and self.tier not in TIERS:
            raise InvalidRequestError(
                "tier", f"unknown tier {self.tier!r}; allowed: {', '.join(TIERS)}"
            )
        if self.hedge is not None and not isinstance(self.hedge, bool):
            raise InvalidRequestError("hedge", "must be true, false or None")
        if self.stream_recovery is not None or self.on_content_filter is not None:
            for name, allowed in _POLICIES.items():
                value = getattr(self, name)
                if value is not None and value not in allowed:
                    raise InvalidRequestError(
                        name, f"unknown policy {value!r}; allowed: {', '.join(allowed)}"
                    )
        if not isinstance(self.trace_id, str) or not self.trace_id or len(self.trace_id) > 128:
            raise InvalidRequestError("trace_id", "must be a non-empty string of at most 128 chars")
        if self.needs_chat_fields():
            self._check_chat_fields()
        if self.prompt_chars() > MAX_PROMPT_CHARS:
            where = "prompt" if self.prompt is not None else "messages"
            raise InvalidRequestError(where, f"longer than {MAX_PROMPT_CHARS} characters")

    def _check_chat_fields(self) -> None:
        """Validate and normalise the tools, output format and sampling fields (issue 14):
        OpenAI's shapes become :mod:`~sarvanom_sdk.chat` values; an empty tool list,
        ``response_format`` text and ``tool_choice`` auto without tools become None.
        Called only when one of them is set (a plain request skips it)."""
        set_ = object.__setattr__
        tools = parse_tools(self.tools)
        set_(self, "tools", tools)
        if self.tool_choice is not None:
            choice = ToolChoice.parse(self.tool_choice, tools or ())
            set_(self, "tool_choice", None if choice.mode == "auto" and not tools else choice)
        if self.parallel_tool_calls is not None and not isinstance(
            self.parallel_tool_calls, bool
        ):
            raise InvalidRequestError("parallel_tool_calls", "must be true, false or None")
        if self.response_format is not None:
            form = ResponseFormat.parse(self.response_format)
            set_(self, "response_format", None if form.type == "text" else form)
        if self.stop is not None:
            set_(self, "stop", parse_stop(self.stop))
        set_(self, "top_p", parse_number("top_p", self.top_p, 0.0, 1.0, low_open=True))
        set_(self, "seed", parse_seed(self.seed))
        for name in ("presence_penalty", "frequency_penalty"):
            set_(self, name, parse_number(name, getattr(self, name), -2.0, 2.0))

    def needs_chat_fields(self) -> bool:
        """Whether any chat-surface field (tools ... penalties) is set: adapters skip
        their translation for a plain request."""
        return not (
            self.tools is None
            and self.tool_choice is None
            and self.response_format is None
            and self.stop is None
            and self.top_p is None
            and self.seed is None
            and self.presence_penalty is None
            and self.frequency_penalty is None
            and self.parallel_tool_calls is None
        )

    def needed_capabilities(self) -> frozenset[str]:
        """What a provider must support to answer this request (see
        :func:`sarvanom_sdk.chat.needed_capabilities`); empty for plain text chat."""
        if self.prompt is not None and not (
            self.tools or self.response_format or self.stop or self.seed is not None
        ):
            return _NOTHING
        messages = self.messages or ()
        return needed_capabilities(
            tools=self.tools,
            tool_choice=self.tool_choice,
            response_format=self.response_format,
            stop=self.stop,
            seed=self.seed,
            images=[image for m in messages for image in images_of(m.content)],
            tool_history=any(m.tool_calls or m.role == "tool" for m in messages),
        )

    def prompt_chars(self) -> int:
        text = len(self.system or "")
        if self.prompt is not None:
            return text + len(self.prompt)
        return text + sum(m.chars() for m in self.messages or ())

    def chat_messages(self) -> list[dict[str, Any]]:
        """The conversation as OpenAI-shaped message dicts (:meth:`Message.to_dict`), the
        prompt as one user message.

        ``system`` is not included (each adapter places it where its protocol wants it).
        """
        if self.prompt is not None:
            return [{"role": "user", "content": self.prompt}]
        return [m.to_dict() for m in self.messages or ()]

    def as_text(self) -> str:
        """The conversation flattened to one prompt, for prompt-only protocols."""
        if self.prompt is not None:
            return self.prompt
        return "\n".join(f"{m.role}: {m.text}" for m in self.messages or ())


@fast_init
@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@fast_init
@dataclass(frozen=True, slots=True)
class Attempt:
    """One entry of the attempt trail: a provider considered for a request.

    ``reason`` says why it was skipped or failed ("circuit open until ...",
    "paid API disabled", "HTTP 503: ..."); it never holds a key or the prompt.
    ``error_type`` is the failure's typed cause (``timeout``, ``stalled``, ``connection``,
    ``stream_cut``, ``malformed_reply``, ``too_large``, ``content_filter``,
    ``bad_request``, ``context_length``, ``auth``, ``rate_limited``, ``server_error``;
    ``unsupported``: skipped for lacking a capability the request needs);
    None for an attempt that did not fail. ``endpoint`` names the base URL (scheme, host
    and port) when the provider has several.
    """

    provider: ProviderName
    outcome: AttemptOutcome
    reason: str = ""
    latency_ms: float = 0.0
    status: int | None = None
    error_type: str | None = None
    endpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider.value,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "latency_ms": round(self.latency_ms, 3),
            "status": self.status,
            "error_type": self.error_type,
            "endpoint": self.endpoint,
        }


@fast_init
@dataclass(frozen=True, slots=True)
class LLMResponse:
    """The answer to a request. ``success`` is False only for the stub's answer.

    ``cached``: served from the response cache; ``stale``: an expired cached answer served
    because every real provider failed. ``reasoning`` holds a reasoning model's thinking,
    kept out of ``content``. ``finish_reason`` is one of ``stop``, ``length``,
    ``tool_calls``, ``content_filter`` (None when the provider did not say).
    ``tool_calls``: the calls the model asked for (:class:`~sarvanom_sdk.chat.ToolCall`,
    arguments a JSON string). ``parsed``: for a ``json_object``/``json_schema`` request,
    the JSON of ``content``, already checked against the schema.
    """

    success: bool
    provider: ProviderName
    content: str
    error_message: str | None = None
    model: str | None = None
    latency_ms: float = 0.0
    usage: Usage | None = None
    cost_usd: float = 0.0
    cached: bool = False
    stale: bool = False
    trace_id: str = ""
    attempts: tuple[Attempt, ...] = ()
    reasoning: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    parsed: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        out["provider"] = self.provider.value
        out["usage"] = self.usage.to_dict() if self.usage else None
        out["attempts"] = [a.to_dict() for a in self.attempts]
        out["latency_ms"] = round(self.latency_ms, 3)
        return out


@fast_init
@dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of a streamed answer. ``reasoning`` pieces come separately from ``text``.

    ``restart=True`` (an empty chunk, only with ``stream_recovery="restart"``): the stream
    was cut and starts again on another provider; discard every chunk received so far.
    ``tool_calls``: pieces of the tool calls the model is writing
    (:class:`~sarvanom_sdk.chat.ToolCallDelta`; ``stream.response.tool_calls`` holds the
    whole calls at the end)."""

    text: str = ""
    reasoning: str = ""
    provider: ProviderName | None = None
    restart: bool = False
    tool_calls: tuple[ToolCallDelta, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    """One base URL of a provider (scheme, host and port only): its own breaker, its
    calls in flight, its recent latency (peak-EWMA) and what its last health probe said
    (``last_error``: None when it answered, or when none was made)."""

    url: str
    circuit_state: str
    consecutive_failures: int
    circuit_open_until: datetime | None
    in_flight: int
    latency_ms: float
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider's health as the registry knows it (the seed's health JSON fields).

    ``error_count`` and ``success_count`` are totals since the client was created;
    ``consecutive_failures`` is what the breaker counts. The provider's breaker state is
    open only while every one of its ``endpoints`` is.
    """

    provider: ProviderName
    status: HealthStatus
    last_check: datetime | None = None
    latency_ms: float = 0.0
    error_count: int = 0
    success_count: int = 0
    circuit_open_until: datetime | None = None
    last_error: str | None = None
    circuit_state: str = "closed"
    consecutive_failures: int = 0
    endpoints: tuple[EndpointHealth, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The seed's JSON shape for one provider (ISO-8601 UTC timestamps)."""
        return {
            "status": self.status.value,
            "last_check": _iso(self.last_check),
            "latency_ms": round(self.latency_ms, 1),
            "error_count": self.error_count,
            "success_count": self.success_count,
            "circuit_open_until": _iso(self.circuit_open_until),
            "last_error": self.last_error,
        }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
