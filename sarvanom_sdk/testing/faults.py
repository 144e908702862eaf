"""Faults the provider emulator can inject, and the rules that decide when they fire.

A :class:`Fault` says *what* goes wrong on the wire; a :class:`FaultRule` says *when*
(which provider, which request numbers, how many times, with what probability). Both are
plain values with no I/O: the emulator asks :meth:`FaultPlan.pick` once per request and
applies the answer (see ``_delivery.py``).

Fault kinds, each built by a constructor on :class:`Fault`:

=================  =========================================================================
``refuse``         close the connection at once, no response bytes at all
``hang``           accept, never answer; released (connection dropped) when the emulator stops
``delay``          wait ``seconds`` before the status line, then answer normally
``trickle``        headers at once, then the body slowly (bytes/s, or one piece per interval)
``http``           the provider's own error status and body shape (400/401/403/429/5xx/529)
``malformed_json`` the answer's JSON does not parse (a streamed reply: one event does not)
``html``           200 ``text/html``: a tunnel's browser-warning interstitial page
``empty``          200 ``application/json`` with an empty body
``cut_stream``     send part of the body, then drop the connection (no terminator)
``no_terminator``  a streamed reply that ends cleanly without ``[DONE]`` / ``message_stop`` /
                   ``"done": true`` (non-streamed replies are unaffected)
``stream_error``   the provider's mid-stream error event after some chunks (non-streamed: the
                   provider's 500 error)
``oversized``      a valid answer whose body is at least ``n_bytes`` long
=================  =========================================================================
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal[
    "refuse",
    "hang",
    "delay",
    "trickle",
    "http",
    "malformed_json",
    "html",
    "empty",
    "cut_stream",
    "no_terminator",
    "stream_error",
    "oversized",
]

Endpoint = Literal["any", "generate", "probe"]
"""Which requests a rule sees: ``generate`` (chat/messages/generate calls), ``probe``
(health checks and model lists) or ``any``."""

ErrorBody = Mapping[str, Any] | list[Any] | str | bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong. Build one with a constructor (``Fault.http(503)``), not directly.

    Fields not used by a kind keep their defaults: ``seconds`` is the delay, or the pause
    between trickled pieces; ``size`` is the trickle piece size or the oversized body size.
    """

    kind: FaultKind
    seconds: float = 0.0
    size: int = 0
    status: int = 0
    retry_after: float | None = None
    body: ErrorBody | None = None
    per_event: bool = False

    @classmethod
    def refuse(cls) -> Fault:
        """Close the connection as soon as the request arrives, sending nothing.

        For a true "connection refused" (nothing listening), point the client at
        :meth:`ProviderEmulator.refused_url` instead.
        """
        return cls("refuse")

    @classmethod
    def hang(cls) -> Fault:
        """Accept the request and never answer. The emulator drops such connections when it
        stops, so a hanging request never delays shutdown."""
        return cls("hang")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before sending the status line, then answer normally."""
        return cls("delay", seconds=_non_negative("seconds", seconds))

    @classmethod
    def trickle(
        cls,
        bytes_per_second: float | None = None,
        *,
        interval: float | None = None,
        chunk_bytes: int = 16,
    ) -> Fault:
        """Send the headers at once, then the body slowly. Give exactly one of:

        - ``bytes_per_second``: the body in ``chunk_bytes`` pieces at that average rate;
        - ``interval``: a pause of ``interval`` seconds before each piece, where a piece is
          one protocol event of a streamed reply (an SSE event, an NDJSON line) or
          ``chunk_bytes`` bytes of a non-streamed body.
        """
        if (bytes_per_second is None) == (interval is None):
            raise ValueError("give exactly one of bytes_per_second or interval")
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be at least 1")
        if bytes_per_second is not None:
            if bytes_per_second <= 0:
                raise ValueError("bytes_per_second must be positive")
            return cls("trickle", seconds=chunk_bytes / bytes_per_second, size=chunk_bytes)
        assert interval is not None
        pause = _non_negative("interval", interval)
        return cls("trickle", seconds=pause, size=chunk_bytes, per_event=True)

    @classmethod
    def http(
        cls, status: int, retry_after: float | None = None, body: ErrorBody | None = None
    ) -> Fault:
        """Answer ``status`` with the provider's real error body shape.

        ``retry_after`` (seconds) adds a ``retry-after`` header (OpenAI-style providers also
        get ``retry-after-ms``). ``body`` replaces the body: a mapping or list is sent as
        JSON, a string or bytes as ``text/plain``.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status}")
        if retry_after is not None:
            _non_negative("retry_after", retry_after)
        return cls("http", status=status, retry_after=retry_after, body=body)

    @classmethod
    def malformed_json(cls) -> Fault:
        """The normal answer, but its JSON does not parse (the final closing bracket is
        missing). In a streamed reply only the first content event is broken."""
        return cls("malformed_json")

    @classmethod
    def html(cls) -> Fault:
        """Answer 200 ``text/html`` with a tunnel's browser-warning interstitial page."""
        return cls("html")

    @classmethod
    def empty(cls) -> Fault:
        """Answer 200 ``application/json`` with an empty body."""
        return cls("empty")

    @classmethod
    def cut_stream(cls) -> Fault:
        """Send about half of the answer, then drop the connection without a terminator.
        A non-streamed body is cut short of its ``Content-Length``."""
        return cls("cut_stream")

    @classmethod
    def no_terminator(cls) -> Fault:
        """End a streamed reply cleanly but without its terminator (``data: [DONE]``,
        ``message_stop``, the ``"done": true`` line). Non-streamed replies are unaffected."""
        return cls("no_terminator")

    @classmethod
    def stream_error(cls) -> Fault:
        """After some chunks, send the provider's mid-stream error (Anthropic ``event: error``
        overloaded_error, an OpenAI ``data: {"error": ...}`` chunk, an Ollama
        ``{"error": ...}`` line) and end the body. Non-streamed requests get a 500."""
        return cls("stream_error")

    @classmethod
    def oversized(cls, n_bytes: int) -> Fault:
        """Answer with a valid reply whose body is at least ``n_bytes`` long (a long answer
        text, streamed in pieces of about 4 KiB). Probes answer normally."""
        if n_bytes < 1:
            raise ValueError("n_bytes must be at least 1")
        return cls("oversized", size=n_bytes)


class FaultRule:
    """One injected fault and when it fires; returned by ``ProviderEmulator.inject``.

    A request is a candidate when it is for ``provider`` and matches ``endpoint``. A
    candidate fires the fault when its number is in ``on_requests`` (if given), then when a
    draw from the rule's own ``random.Random(seed)`` falls below ``probability`` (if given),
    and while fewer than ``times`` have fired (if given). Request numbers are 1-based and
    count the provider's requests of that endpoint kind since the last ``reset()``.
    """

    def __init__(
        self,
        provider: str,
        fault: Fault,
        endpoint: Endpoint,
        times: int | None,
        on_requests: Iterable[int] | None,
        probability: float | None,
        seed: int | None,
    ) -> None:
        """Validate and keep a schedule; build rules with ``ProviderEmulator.inject``."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        numbers = None if on_requests is None else frozenset(on_requests)
        if numbers is not None and any(n < 1 for n in numbers):
            raise ValueError("on_requests are 1-based request numbers")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if seed is not None and probability is None:
            raise ValueError("seed only makes sense with probability")
        if endpoint not in ("any", "generate", "probe"):
            raise ValueError(f"endpoint must be 'any', 'generate' or 'probe', not {endpoint!r}")
        self.provider = provider
        self.fault = fault
        self.endpoint: Endpoint = endpoint
        self._times = times
        self._numbers = numbers
        self._probability = probability
        self._rng = random.Random(seed)
        self._fired = 0

    @property
    def fired(self) -> int:
        """How many requests this rule has faulted so far."""
        return self._fired

    def __repr__(self) -> str:
        return (
            f"FaultRule({self.provider!r}, {self.fault!r}, endpoint={self.endpoint!r}, "
            f"fired={self._fired})"
        )

    def _fires(self, number: int) -> bool:
        """Decide for one candidate request; call with the plan's lock held."""
        if self._times is not None and self._fired >= self._times:
            return False
        if self._numbers is not None and number not in self._numbers:
            return False
        if self._probability is not None and self._rng.random() >= self._probability:
            return False
        self._fired += 1
        return True


class FaultPlan:
    """The rules of one emulator, consulted once per request. Thread-safe: tests inject
    from their own thread while the server's loop picks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self, provider: str | None = None) -> None:
        """Remove every rule, or only ``provider``'s."""
        with self._lock:
            self._rules = [r for r in self._rules if provider not in (None, r.provider)]

    def pick(
        self, provider: str, endpoint: str, number_any: int, number_endpoint: int
    ) -> Fault | None:
        """The fault for this request: the first rule, in injection order, that fires."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if rule.provider != provider or rule.endpoint not in ("any", endpoint):
                    continue
                number = number_any if rule.endpoint == "any" else number_endpoint
                if rule._fires(number):
                    return rule.fault
        return None


def _non_negative(name: str, value: float) -> float:
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return float(value)
