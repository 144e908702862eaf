"""The adapter contract: each provider is one sans-IO module that only translates.

An adapter turns an :class:`LLMRequest` into an :class:`HttpCall`, and a reply's bytes into
a :class:`Completion` (or raises a :class:`~sarvanom_sdk.errors.ProviderError`). For
streams it hands out a fresh :class:`StreamDecoder` per request that turns raw bytes, in any
chunking, into :class:`StreamEvent` values. Adapters never touch a socket, a clock or a
loop, so they are tested with bytes in and values out.

An adapter attaches its key only to calls it builds from its own base URL, and lists the
key in ``HttpCall.secrets`` so transports and errors can keep it out of every message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._fastinit import fast_init
from ..chat import ToolCall, ToolCallDelta
from ..http import HttpCall, HttpReply
from ..types import LLMRequest, ProviderName, Usage


def clean_text(text: str) -> str:
    """``text`` with every lone UTF-16 surrogate replaced by U+FFFD (F15).

    ``json.loads`` turns a provider's ``"\\ud83d"`` (half an emoji) into a lone surrogate,
    a str that raises ``UnicodeEncodeError`` wherever it is later encoded (a socket, a
    cache, a log file). A surrogate pair split into two escapes is joined into its real
    character. Costs one scan when the text is ASCII, one UTF-8 encode otherwise."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _clean_fields(value: object, names: tuple[str, ...]) -> None:
    for name in names:
        text = getattr(value, name)
        if text and not text.isascii():
            cleaned = clean_text(text)
            if cleaned is not text:
                object.__setattr__(value, name, cleaned)


@fast_init
@dataclass(frozen=True, slots=True)
class Completion:
    """What a provider answered: the adapter's output for a whole reply. Its texts are
    made encodable on construction (:func:`clean_text`).

    ``finish_reason`` is normalised by the adapter to ``stop``, ``length``,
    ``tool_calls`` or ``content_filter`` (None when the provider did not say);
    ``tool_calls`` are the calls the model asked for, each with arguments that parse as
    a JSON object (an adapter refuses a reply whose arguments do not: malformed)."""

    content: str
    model: str | None = None
    usage: Usage | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    #: The checked JSON of a json_object/json_schema answer: set by the router, which
    #: checks it (adapters leave it None).
    parsed: Any = None

    def __post_init__(self) -> None:
        _clean_fields(self, ("content", "reasoning", "model", "finish_reason"))


@fast_init
@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One decoded stream event.

    A delta carries ``text``, ``reasoning`` and/or ``tool_calls`` (pieces of tool calls,
    by index: :class:`~sarvanom_sdk.chat.ToolCallDelta`); the final event has ``done=True`` and
    whatever the protocol reports at the end (usage, finish reason, model). A stream that
    ends without a ``done`` event was cut.
    """

    text: str = ""
    reasoning: str = ""
    done: bool = False
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()

    def __post_init__(self) -> None:
        _clean_fields(self, ("text", "reasoning", "model", "finish_reason"))


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> list[StreamEvent]:
        """Events completed by ``data``; raises ProviderError for an error event or bad data."""

    def close(self) -> list[StreamEvent]:
        """Called at end of body: the last events, or raise ProviderError if the stream
        was cut (no terminator)."""


@runtime_checkable
class ProviderAdapter(Protocol):
    """A provider's wire protocol. Attributes are fixed at construction."""

    name: ProviderName
    #: True for providers that cost money (skipped unless paid use is enabled).
    paid: bool
    #: The model used when the request does not name one.
    default_model: str
    #: Values (keys, tokens) that must never appear in any output.
    secrets: tuple[str, ...]
    #: What this adapter translates (keys of :data:`sarvanom_sdk.chat.CAPABILITIES`); a
    #: request needing one it lacks is not sent to it.
    capabilities: frozenset[str]
    #: The configured model's context window in tokens, when known.
    context_window: int | None

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        """The HTTP call for ``request`` (``stream=True`` asks the provider to stream)."""

    def parse(self, reply: HttpReply) -> Completion:
        """The answer in a whole reply; raises ProviderError for any status or body that is
        not a real answer (error statuses via ``errors.error_for_status``)."""

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed reply with a 2xx status."""

    def health_call(self) -> HttpCall | None:
        """A cheap call that tells whether the provider is up (None: nothing to call)."""
