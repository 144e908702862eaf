"""The SDK's value types: requests, responses, the attempt trail and provider health.

All are immutable dataclasses. :class:`LLMRequest` validates itself on construction, so an
invalid request is refused with :class:`~sarvanom_sdk.errors.InvalidRequestError` before any
network call.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

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
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(p.value for p in cls)
            raise InvalidRequestError(
                field_name, f"unknown provider {value!r}; allowed: {allowed}"
            ) from None


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


ROLES = ("system", "user", "assistant")
#: Per-request policies and their allowed values (the client settings of the same names).
_POLICIES = {
    "stream_recovery": ("raise", "restart", "continue"),
    "on_content_filter": ("raise", "fallback"),
}
TIERS = ("simple", "complex", "critical")


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def _messages_from(value: Iterable[Any]) -> tuple[Message, ...]:
    out = []
    for index, item in enumerate(value):
        where = f"messages[{index}]"
        role: Any
        content: Any
        if isinstance(item, Message):
            role, content = item.role, item.content
        elif isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
        else:
            raise InvalidRequestError(where, "must be a mapping with 'role' and 'content'")
        if role not in ROLES:
            raise InvalidRequestError(
                f"{where}.role", f"unknown role {role!r}; allowed: {', '.join(ROLES)}"
            )
        if not isinstance(content, str) or not content.strip():
            raise InvalidRequestError(f"{where}.content", "must be a non-empty string")
        _encodable(f"{where}.content", content)
        out.append(Message(role, content))
    if not out:
        raise InvalidRequestError("messages", "must contain at least one message")
    return tuple(out)


def _encodable(field_name: str, text: str) -> None:
    """Refuse a lone UTF-16 surrogate (F12): valid in JSON and in a Python str, it cannot
    be sent to any provider (``UnicodeEncodeError``); clients that cut an emoji in half
    send one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            field_name,
            f"holds a lone UTF-16 surrogate at character {exc.start} (half of a character "
            "split in two); send whole characters",
        ) from None


def new_trace_id() -> str:
    """32 random hex digits (as unique as a uuid4, at a third of its cost)."""
    return os.urandom(16).hex()


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

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if (self.prompt is None) == (self.messages is None):
            raise InvalidRequestError("prompt", "give exactly one of 'prompt' or 'messages'")
        if self.prompt is not None:
            if not isinstance(self.prompt, str) or not self.prompt.strip():
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
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int):
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
        for name, allowed in _POLICIES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidRequestError(
                    name, f"unknown policy {value!r}; allowed: {', '.join(allowed)}"
                )
        if not isinstance(self.trace_id, str) or not self.trace_id or len(self.trace_id) > 128:
            raise InvalidRequestError("trace_id", "must be a non-empty string of at most 128 chars")
        if self.prompt_chars() > MAX_PROMPT_CHARS:
            where = "prompt" if self.prompt is not None else "messages"
            raise InvalidRequestError(where, f"longer than {MAX_PROMPT_CHARS} characters")

    def prompt_chars(self) -> int:
        text = len(self.system or "")
        if self.prompt is not None:
            return text + len(self.prompt)
        return text + sum(len(m.content) for m in self.messages or ())

    def chat_messages(self) -> list[dict[str, str]]:
        """The conversation as role/content dicts, the prompt as one user message.

        ``system`` is not included (each adapter places it where its protocol wants it).
        """
        if self.prompt is not None:
            return [{"role": "user", "content": self.prompt}]
        return [m.to_dict() for m in self.messages or ()]

    def as_text(self) -> str:
        """The conversation flattened to one prompt, for prompt-only protocols."""
        if self.prompt is not None:
            return self.prompt
        return "\n".join(f"{m.role}: {m.content}" for m in self.messages or ())


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


@dataclass(frozen=True, slots=True)
class Attempt:
    """One entry of the attempt trail: a provider considered for a request.

    ``reason`` says why it was skipped or failed ("circuit open until ...",
    "paid API disabled", "HTTP 503: ..."); it never holds a key or the prompt.
    ``error_type`` is the failure's typed cause (``timeout``, ``stalled``, ``connection``,
    ``stream_cut``, ``malformed_reply``, ``too_large``, ``content_filter``,
    ``bad_request``, ``context_length``, ``auth``, ``rate_limited``, ``server_error``);
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


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """The answer to a request. ``success`` is False only for the stub's answer.

    ``cached``: served from the response cache; ``stale``: an expired cached answer served
    because every real provider failed. ``reasoning`` holds a reasoning model's thinking,
    kept out of ``content``.
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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["provider"] = self.provider.value
        out["usage"] = self.usage.to_dict() if self.usage else None
        out["attempts"] = [a.to_dict() for a in self.attempts]
        out["latency_ms"] = round(self.latency_ms, 3)
        return out


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of a streamed answer. ``reasoning`` pieces come separately from ``text``.

    ``restart=True`` (an empty chunk, only with ``stream_recovery="restart"``): the stream
    was cut and starts again on another provider; discard every chunk received so far."""

    text: str = ""
    reasoning: str = ""
    provider: ProviderName | None = None
    restart: bool = False


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
