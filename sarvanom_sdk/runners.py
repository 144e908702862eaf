"""Runners: perform a flow's effects with a transport. The only sync/async twins.

A driver runs a flow to its end, yielding each :class:`~sarvanom_sdk.types.StreamChunk`
the flow emits and, last, the flow's :class:`~sarvanom_sdk.types.LLMResponse`. Streams
the flow opened and did not close are closed, and calls it started (hedging) and did not
collect are cancelled, when the driver stops for any reason (including a caller leaving a
stream early, or cancellation); the flow is closed so it can give back a breaker admission
without counting an outcome.

Started calls run on a small shared thread pool (sync) or as tasks (async).

What each effect means is written once per I/O flavour (``_perform`` / ``_aperform``);
the loop around it exists as a generator (``drive``/``adrive``, for streams) and as a
plain function or coroutine (``run``/``arun``, for flows that emit nothing), because a
``complete()`` should not pay for an async generator per call (issue 18).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

from .effects import (
    Cancel,
    CloseStream,
    Emit,
    Enter,
    OpenStream,
    Probe,
    Read,
    Send,
    Sleep,
    Start,
    WaitFirst,
)
from .errors import ProviderError
from .transports.base import AsyncTransport, SyncTransport
from .types import LLMResponse, StreamChunk

Flow = Generator[Any, Any, LLMResponse]
Item = StreamChunk | LLMResponse


def drive(
    flow: Flow, transport: SyncTransport, sleep: Callable[[float], Any] = time.sleep
) -> Iterator[Item]:
    held = _Held()
    result: Any = None
    error: ProviderError | None = None
    try:
        while True:
            try:
                effect = flow.send(result) if error is None else flow.throw(error)
            except StopIteration as stop:
                yield stop.value
                return
            result, error = None, None
            if type(effect) is Emit:
                yield effect.chunk
                continue
            try:
                result = _perform(effect, transport, sleep, held)
            except ProviderError as exc:
                error = exc
    finally:
        flow.close()
        held.close()


def run(
    flow: Flow, transport: SyncTransport, sleep: Callable[[float], Any] = time.sleep
) -> LLMResponse:
    """Run a flow that emits nothing (``complete``, ``embed``) to its response: the loop
    of :func:`drive` as a plain function (no generator per call); a chunk the flow
    emits anyway is dropped."""
    held = _Held()
    result: Any = None
    error: ProviderError | None = None
    try:
        while True:
            try:
                effect = flow.send(result) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            try:
                result = _perform(effect, transport, sleep, held)
            except ProviderError as exc:
                error = exc
    finally:
        flow.close()
        held.close()


def _perform(
    effect: Any, transport: SyncTransport, sleep: Callable[[float], Any], held: _Held
) -> Any:
    """Perform one effect (but Emit) with the sync transport: its result."""
    kind = type(effect)
    if kind is Send:
        return transport.send(effect.call, effect.timeout)
    if kind is Read:
        return effect.stream.read(effect.timeout)
    if kind is Enter:
        return effect.bulkhead.enter_sync(effect.timeout)
    if kind is Start:
        send = effect.send
        handle = _pool().submit(transport.send, send.call, send.timeout)
        held.started.append(handle)
        return handle
    if kind is WaitFirst:
        return _wait_first_sync(effect.handles, effect.timeout)
    if kind is Cancel:
        effect.handle.cancel()
    elif kind is OpenStream:
        opened = transport.open_stream(effect.call, effect.timeout)
        if hasattr(opened, "read"):
            held.streams.append(opened)
        return opened
    elif kind is CloseStream:
        _forget(held.streams, effect.stream).close()
    elif kind is Sleep:
        sleep(effect.seconds)
    elif kind is Probe:
        _probe_thread(transport, effect)
    return None


async def adrive(
    flow: Flow,
    transport: AsyncTransport,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> AsyncIterator[Item]:
    held = _Held()
    result: Any = None
    error: ProviderError | None = None
    try:
        while True:
            try:
                effect = flow.send(result) if error is None else flow.throw(error)
            except StopIteration as stop:
                yield stop.value
                return
            result, error = None, None
            kind = type(effect)
            if kind is Emit:
                yield effect.chunk
                continue
            try:
                if kind is Read:  # a stream's common effect: no coroutine in between
                    result = await effect.stream.read(effect.timeout)
                else:
                    result = await _aperform(effect, transport, sleep, held)
            except ProviderError as exc:
                error = exc
    finally:
        flow.close()
        await held.aclose()


async def arun(
    flow: Flow,
    transport: AsyncTransport,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> LLMResponse:
    """Run a flow that emits nothing (``complete``, ``embed``) to its response: the loop
    of :func:`adrive` as a plain coroutine (no async generator per call, and a ``Send``
    awaited with no coroutine in between); a chunk the flow emits anyway is dropped."""
    held = _Held()
    result: Any = None
    error: ProviderError | None = None
    try:
        while True:
            try:
                effect = flow.send(result) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            try:
                if type(effect) is Send:
                    result = await transport.send(effect.call, effect.timeout)
                else:
                    result = await _aperform(effect, transport, sleep, held)
            except ProviderError as exc:
                error = exc
    finally:
        flow.close()
        await held.aclose()


async def _aperform(
    effect: Any,
    transport: AsyncTransport,
    sleep: Callable[[float], Awaitable[Any]] | None,
    held: _Held,
) -> Any:
    """Perform one effect (but Emit) on the event loop: its result."""
    import asyncio

    kind = type(effect)
    if kind is Send:
        return await transport.send(effect.call, effect.timeout)
    if kind is Read:
        return await effect.stream.read(effect.timeout)
    if kind is Enter:
        return await effect.bulkhead.enter_async(effect.timeout)
    if kind is Start:
        send = effect.send
        task = asyncio.ensure_future(transport.send(send.call, send.timeout))
        held.started.append(task)
        return task
    if kind is WaitFirst:
        return await _wait_first_async(effect.handles, effect.timeout)
    if kind is Cancel:
        await _cancel_async(effect.handle)
    elif kind is OpenStream:
        opened = await transport.open_stream(effect.call, effect.timeout)
        if hasattr(opened, "read"):
            held.streams.append(opened)
        return opened
    elif kind is CloseStream:
        await _forget(held.streams, effect.stream).close()
    elif kind is Sleep:
        await (sleep or asyncio.sleep)(effect.seconds)
    elif kind is Probe:
        task = asyncio.ensure_future(transport.send(effect.call, effect.timeout))
        _BACKGROUND.add(task)  # a task only weakly referenced may vanish
        task.add_done_callback(_BACKGROUND.discard)
        task.add_done_callback(_reporter(effect))
    return None


class _Held:
    """What a driver must give back when it stops for any reason: the streams the flow
    opened and did not close (closed), the calls it started and did not collect
    (cancelled). Its lists are made on first use (most calls open and start nothing)."""

    __slots__ = ("_streams", "_started")

    def __init__(self) -> None:
        self._streams: list[Any] | None = None
        self._started: list[Any] | None = None

    @property
    def streams(self) -> list[Any]:
        if self._streams is None:
            self._streams = []
        return self._streams

    @property
    def started(self) -> list[Any]:
        if self._started is None:
            self._started = []
        return self._started

    def close(self) -> None:
        for stream in self._streams or ():
            stream.close()
        self._cancel()

    async def aclose(self) -> None:
        for stream in self._streams or ():
            await stream.close()
        self._cancel()

    def _cancel(self) -> None:
        for handle in self._started or ():
            handle.cancel()


_BACKGROUND: set[Any] = set()


def _probe_thread(transport: SyncTransport, effect: Probe) -> None:
    """Run a background probe on a short-lived daemon thread of its own (at most one per
    endpoint at a time, bounded by its timeout): no pool is kept alive for it."""
    import threading

    def probe() -> None:
        try:
            reply = transport.send(effect.call, effect.timeout)
        except ProviderError as error:
            effect.done(None, error)
        except Exception as error:  # noqa: BLE001 - a probe never raises anywhere
            effect.done(None, ProviderError(f"probe failed: {type(error).__name__}"))
        else:
            effect.done(reply, None)

    threading.Thread(target=probe, name="sarvanom-probe", daemon=True).start()


async def cancel_background() -> None:
    """Cancel the background calls (health probes) running on this event loop and let
    them end, so closing a client leaves no pending task behind."""
    import asyncio

    loop = asyncio.get_running_loop()
    mine = [task for task in _BACKGROUND if task.get_loop() is loop and not task.done()]
    for task in mine:
        task.cancel()
    if mine:
        await asyncio.wait(mine, timeout=1.0)


def _reporter(effect: Probe) -> Callable[[Any], None]:
    """A done-callback handing a background call's outcome to ``effect.done``: (reply,
    None) or (None, the ProviderError; any other exception or a cancellation as one)."""

    def report(handle: Any) -> None:
        if handle.cancelled():
            effect.done(None, ProviderError("probe cancelled"))
            return
        error = handle.exception()
        if error is None:
            effect.done(handle.result(), None)
        elif isinstance(error, ProviderError):
            effect.done(None, error)
        else:
            effect.done(None, ProviderError(f"probe failed: {type(error).__name__}"))

    return report


def _forget(streams: list[Any], stream: Any) -> Any:
    if stream in streams:
        streams.remove(stream)
    return stream


_POOL: Any = None


def _pool() -> Any:
    """The thread pool that runs hedged sync calls (made on first use, once per process)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="sarvanom-hedge")
    return _POOL


def _forget_pool_in_child() -> None:
    """A forked child inherits the pool without its threads (and maybe with a lock held
    by one of them): a hedged call submitted there would never run. The child drops it
    and makes its own on first use."""
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _wait_first_sync(handles: list[Any], timeout: float) -> set[Any]:
    from concurrent.futures import FIRST_COMPLETED, wait

    done: set[Any] = wait(handles, timeout, return_when=FIRST_COMPLETED).done
    return done


async def _cancel_async(task: Any) -> None:
    """Cancel a started call and let it end (briefly), so what it held is given back
    before the flow goes on."""
    import asyncio

    task.cancel()
    await asyncio.wait([task], timeout=1.0)


async def _wait_first_async(handles: list[Any], timeout: float) -> set[Any]:
    import asyncio

    done: set[Any]
    done, _ = await asyncio.wait(handles, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    return done
