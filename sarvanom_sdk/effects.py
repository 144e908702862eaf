"""The I/O a routing flow asks for. A flow (a generator in :mod:`router`) yields these; a
runner (:mod:`runners`) performs them with a sync or an async transport and sends back
the result, or throws the ProviderError that happened. The routing decisions are written
once; only the runners exist twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .http import HttpCall
from .types import StreamChunk


@dataclass(slots=True)
class Send:
    """Send a call and read the whole reply (-> HttpReply) within ``timeout`` seconds."""

    call: HttpCall
    timeout: float


@dataclass(slots=True)
class Sleep:
    seconds: float


@dataclass(slots=True)
class OpenStream:
    """Send a streaming call; wait for the headers (-> byte stream, or HttpReply if not 2xx)."""

    call: HttpCall
    timeout: float


@dataclass(slots=True)
class Read:
    """The next bytes of an open stream (b"" at its end) within ``timeout`` seconds."""

    stream: Any
    timeout: float


@dataclass(slots=True)
class CloseStream:
    stream: Any


@dataclass(slots=True)
class Emit:
    """Hand a chunk to the caller of a stream."""

    chunk: StreamChunk


@dataclass(slots=True)
class Enter:
    """Wait up to ``timeout`` for a slot in a bulkhead (-> True when one was taken)."""

    bulkhead: Any
    timeout: float


@dataclass(slots=True)
class Start:
    """Start a Send without waiting for it (-> a handle: a future or a task)."""

    send: Send


@dataclass(slots=True)
class WaitFirst:
    """Wait up to ``timeout`` until any of the handles is done (-> the done ones)."""

    handles: list[Any]
    timeout: float


@dataclass(slots=True)
class Cancel:
    """Abandon a started Send (its result, if any, is dropped)."""

    handle: Any


@dataclass(slots=True)
class Probe:
    """Send ``call`` in the background, outliving the flow, without waiting (-> None);
    ``done(reply, error)`` is called with its outcome, on whichever thread or task ends
    it. For health probes of a provider whose breaker is open."""

    call: HttpCall
    timeout: float
    done: Callable[[Any, Any], None]
