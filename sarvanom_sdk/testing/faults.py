"""Faults the provider emulator can inject, and the rules that decide when they fire.

A :class:`Fault` says *what* goes wrong on the wire; a :class:`FaultRule` says *when*
(which provider, which request numbers, how many times, with what probability). Both are
plain values with no I/O: the emulator asks :meth:`FaultPlan.pick` once per request and
applies the answer (see ``_delivery.py``).

Fault kinds, each built by a constructor on :class:`Fault`:

===============================  ===========================================================
``refuse``                       close the connection at once, no response bytes at all
``hang``                         accept, never answer; released (connection dropped) when
                                 the emulator stops
``delay``                        wait ``seconds`` before the status line, then answer
``trickle``                      headers at once, then the body slowly (bytes/s, or one
                                 piece per interval)
``http``                         the provider's own error status and body shape
                                 (400/401/403/429/5xx/529)
``malformed_json``               the answer's JSON does not parse (a streamed reply: its
                                 first content event does not)
``html``                         200 ``text/html``: a tunnel's browser-warning page
``empty``                        200 ``application/json`` with an empty body
``cut_stream``                   send part of the body, then drop the connection
``no_terminator``                a stream that ends cleanly after its content, before its
                                 finish marker and terminator: a cut, on every protocol
``stream_error``                 the provider's mid-stream error event after some chunks
                                 (non-streamed: the provider's 500 error)
``oversized``                    a valid answer whose body is at least ``n_bytes`` long
``complete_without_terminator``  a complete stream (finish marker, usage) without its
                                 terminator: no ``data: [DONE]``, no ``message_stop``
``keepalive_stall``              after ``after`` content events, only keep-alives
                                 (SSE comments, blank NDJSON lines) for ``seconds``
``malformed_event``              ``count`` events that are not JSON inserted after
                                 ``after`` content events; the rest of the stream intact
``content_filter``               the provider's content-filter refusal in its real shape
                                 (``stage`` ``"prompt"`` or ``"output"``)
``context_length``               the provider's "prompt too long" error in its real shape
``prefill_rejection``            400 when the last message is the assistant's (prefill);
                                 other requests are answered normally
===============================  ===========================================================

The issue-13 faults (the last six) exist where the provider really shows them; injecting
one on a provider that has no such shape raises ``ValueError`` saying why:

* ``complete_without_terminator``: OpenAI-compatible streams end after the
  ``finish_reason`` chunk (and the usage chunk when ``stream_options.include_usage``);
  Anthropic's after ``message_delta`` (its ``stop_reason`` and usage). Ollama's last NDJSON
  line is both its finish marker and its terminator, so it has no such fault.
* ``keepalive_stall`` and ``malformed_event``: every streaming protocol (SSE: ``: keep-alive``
  comments and a ``data:`` line that is not JSON; Ollama's NDJSON: blank lines and a line
  that is not JSON). Non-streamed replies are answered normally.
* ``content_filter``: OpenAI (and the OpenAI-shaped Hugging Face router): ``stage="prompt"``
  is the 400 ``{"error": {"message", "type": "invalid_request_error", "param": null,
  "code": "content_policy_violation"}}``; ``stage="output"`` is a 200 whose answer stops
  half-way with ``finish_reason: "content_filter"``. Anthropic: ``stop_reason: "refusal"``
  (in the message, or in the stream's ``message_delta``), after no text (``"prompt"``) or
  half of it (``"output"``). Ollama, llama.cpp-like boxes, the seed's box and the task API
  have no content filter.
* ``context_length`` (``limit`` tokens allowed, ``tokens`` "sent"): OpenAI 400
  ``code: "context_length_exceeded"`` ("This model's maximum context length is ..."), the
  same shape from the Hugging Face router; Anthropic 400 ``invalid_request_error``
  ``"prompt is too long: N tokens > M maximum"``; llama.cpp (``remote_gpu_openai``) 400
  ``type: "exceed_context_size_error"`` with ``n_prompt_tokens`` and ``n_ctx``, as captured
  in ``tests/real_model/golden/error_exceed_context.json``; the task API (TGI) 422
  ``error_type: "validation"``. Ollama has none: it silently truncates the prompt to
  ``num_ctx``. The seed's box has none.
* ``prefill_rejection``: OpenAI-compatible servers only (OpenAI, the HF router, a llama.cpp
  box, whose real message is the default for it). Anthropic and Ollama accept prefill.

Scheduling (on :meth:`ProviderEmulator.inject`): ``times``, ``on_requests``,
``probability``/``seed``, ``endpoint``, and ``during=(start, end)``: seconds after the
injection, on the emulator's clock (``ProviderEmulator(clock=...)``, ``time.monotonic`` by
default), in which the rule fires. ``ProviderEmulator.flap`` builds a flapping provider
from them: down (health endpoint included) for ``seconds`` or for ``requests``, then healthy.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
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
    "complete_without_terminator",
    "keepalive_stall",
    "malformed_event",
    "content_filter",
    "context_length",
    "prefill_rejection",
]

Stage = Literal["prompt", "output"]

#: Faults about what a generation request says or how its answer streams: probes (health
#: checks, model lists) pass them by without firing.
GENERATE_ONLY: frozenset[str] = frozenset(
    {
        "complete_without_terminator",
        "keepalive_stall",
        "malformed_event",
        "content_filter",
        "context_length",
        "prefill_rejection",
    }
)

#: The message llama.cpp's server sends when a chat ends with an assistant message and the
#: model's template thinks (its ``enable_thinking``); OpenAI-compatible servers that refuse
#: prefill say something like it.
LLAMA_CPP_PREFILL_MESSAGE = "Assistant response prefill is incompatible with enable_thinking."

Endpoint = Literal["any", "generate", "probe"]
"""Which requests a rule sees: ``generate`` (chat/messages/generate calls), ``probe``
(health checks and model lists) or ``any``."""

ErrorBody = Mapping[str, Any] | list[Any] | str | bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong. Build one with a constructor (``Fault.http(503)``), not directly.

    Fields not used by a kind keep their defaults: ``seconds`` is the delay, the pause
    between trickled pieces, or how long a stall lasts; ``size`` is the trickle piece size
    or the oversized body size; ``after`` counts content events before a stall or a
    malformed event; ``interval`` is the pause between keep-alives; ``count`` is how many
    malformed events; ``limit``/``tokens`` are a context-length error's numbers; ``stage``
    is a content filter's; ``message`` replaces a provider's error message.
    """

    kind: FaultKind
    seconds: float = 0.0
    size: int = 0
    status: int = 0
    retry_after: float | None = None
    body: ErrorBody | None = None
    per_event: bool = False
    after: int = 0
    interval: float = 0.0
    count: int = 0
    limit: int = 0
    tokens: int = 0
    stage: str = ""
    message: str | None = None

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


    @classmethod
    def complete_without_terminator(cls) -> Fault:
        """A complete stream without its terminator: OpenAI-compatible streams end after
        the ``finish_reason`` chunk and the usage chunk, with no ``data: [DONE]``;
        Anthropic's after ``message_delta``, with no ``message_stop``. Non-streamed replies
        are unaffected. Not for Ollama, whose last line is its finish marker."""
        return cls("complete_without_terminator")

    @classmethod
    def keepalive_stall(
        cls, after: int = 1, seconds: float = 60.0, *, interval: float = 1.0
    ) -> Fault:
        """After ``after`` content events, send only keep-alives (SSE ``: keep-alive``
        comments; blank lines in Ollama's NDJSON), one every ``interval`` seconds, for
        ``seconds``; then the rest of the answer. The emulator stopping, or the client
        leaving, ends the stall. Non-streamed replies are answered normally."""
        if after < 0:
            raise ValueError("after must not be negative")
        if interval <= 0:
            raise ValueError("interval must be positive")
        return cls(
            "keepalive_stall",
            seconds=_non_negative("seconds", seconds),
            after=after,
            interval=float(interval),
        )

    @classmethod
    def malformed_event(cls, after: int = 1, count: int = 1) -> Fault:
        """Insert ``count`` events that are not JSON (an SSE ``data:`` line, or an NDJSON
        line) after ``after`` content events; every real event still arrives, so a client
        that skips the bad ones gets the whole answer. Non-streamed replies are
        unaffected (see :meth:`malformed_json` for a broken body)."""
        if after < 0 or count < 1:
            raise ValueError("after must not be negative and count must be at least 1")
        return cls("malformed_event", after=after, count=count)

    @classmethod
    def content_filter(cls, stage: Stage = "prompt") -> Fault:
        """The provider's content-filter refusal: ``stage="prompt"`` refuses the request
        (OpenAI: 400 ``content_policy_violation``; Anthropic: ``stop_reason: "refusal"``
        with no text), ``stage="output"`` stops the answer half-way (OpenAI:
        ``finish_reason: "content_filter"``; Anthropic: ``stop_reason: "refusal"``), in a
        whole reply and in a stream alike. OpenAI-compatible hosted APIs and Anthropic
        only; see the module docstring."""
        if stage not in ("prompt", "output"):
            raise ValueError(f"stage must be 'prompt' or 'output', not {stage!r}")
        return cls("content_filter", stage=stage)

    @classmethod
    def context_length(cls, limit: int = 4096, tokens: int = 5000) -> Fault:
        """The provider's "prompt too long" error, saying ``tokens`` were sent and ``limit``
        fit: OpenAI 400 ``context_length_exceeded``, Anthropic 400 "prompt is too long",
        llama.cpp 400 ``exceed_context_size_error``, TGI 422 validation. Streamed requests
        get the same error before any event, as the servers do. Not for Ollama (it
        truncates) or the seed's box."""
        if limit < 1 or tokens <= limit:
            raise ValueError("limit must be at least 1 and tokens more than limit")
        return cls("context_length", limit=limit, tokens=tokens)

    @classmethod
    def prefill_rejection(cls, message: str | None = None) -> Fault:
        """An OpenAI-compatible server that refuses assistant prefill: a request whose last
        message is the assistant's gets 400 ``invalid_request_error`` (``message``, by
        default llama.cpp's :data:`LLAMA_CPP_PREFILL_MESSAGE`); any other request is
        answered normally. The rule counts as fired only on rejected requests."""
        return cls("prefill_rejection", message=message)


class FaultRule:
    """One injected fault and when it fires; returned by ``ProviderEmulator.inject``.

    A request is a candidate when it is for ``provider`` and matches ``endpoint``. A
    candidate fires the fault when its number is in ``on_requests`` (if given), then when a
    draw from the rule's own ``random.Random(seed)`` falls below ``probability`` (if given),
    and while fewer than ``times`` have fired (if given). Request numbers are 1-based and
    count the provider's requests of that endpoint kind since the last ``reset()``.
    With ``during=(start, end)`` a candidate fires only while ``clock()`` is at least
    ``start`` and less than ``end`` seconds past the rule's creation (``end`` may be
    ``math.inf``).
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
        during: tuple[float, float] | None = None,
        clock: Callable[[], float] | None = None,
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
        if during is not None:
            start, end = during
            if not 0 <= start < end:
                raise ValueError("during must be (start, end) seconds with 0 <= start < end")
        self._clock = clock or time.monotonic
        self._window = None if during is None else (
            self._clock() + during[0], self._clock() + during[1]
        )
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
        if self._window is not None and not self._window[0] <= self._clock() < self._window[1]:
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
        self,
        provider: str,
        endpoint: str,
        number_any: int,
        number_endpoint: int,
        prefill: bool = False,
    ) -> Fault | None:
        """The fault for this request: the first rule, in injection order, that fires.
        ``prefill`` says whether the request ends with an assistant message (a
        ``prefill_rejection`` rule passes over other requests without firing)."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if rule.provider != provider or rule.endpoint not in ("any", endpoint):
                    continue
                if rule.fault.kind == "prefill_rejection" and not prefill:
                    continue
                if endpoint == "probe" and rule.fault.kind in GENERATE_ONLY:
                    continue
                number = number_any if rule.endpoint == "any" else number_endpoint
                if rule._fires(number):
                    return rule.fault
        return None


def _non_negative(name: str, value: float) -> float:
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return float(value)
