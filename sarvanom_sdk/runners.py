"""Runners: perform a flow's effects with a transport. The only sync/async twins.

A driver runs a flow to its end, yielding each :class:`~sarvanom_sdk.types.StreamChunk`
the flow emits and, last, the flow's :class:`~sarvanom_sdk.types.LLMResponse`. Streams
the flow opened and did not close are closed, and calls it started (hedging) and did not
collect are cancelled, when the driver stops for any reason (including a caller leaving a
stream early, or cancellation); the flow is closed so it can give back a breaker admission
without counting an outcome.

Started calls run on a small shared thread pool (sync) or as tasks (async).
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
    streams: list[Any] = []
    started: list[Any] = []
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
            try:
                if kind is Send:
                    result = transport.send(effect.call, effect.timeout)
                elif kind is Enter:
                    result = effect.bulkhead.enter_sync(effect.timeout)
                elif kind is Start:
                    send = effect.send
                    result = _pool().submit(transport.send, send.call, send.timeout)
                    started.append(result)
                elif kind is WaitFirst:
                    result = _wait_first_sync(effect.handles, effect.timeout)
                elif kind is Cancel:
                    effect.handle.cancel()
                elif kind is Read:
                    result = effect.stream.read(effect.timeout)
                elif kind is Emit:
                    yield effect.chunk
                elif kind is OpenStream:
                    result = transport.open_stream(effect.call, effect.timeout)
                    if hasattr(result, "read"):
                        streams.append(result)
                elif kind is CloseStream:
                    _forget(streams, effect.stream).close()
                elif kind is Sleep:
                    sleep(effect.seconds)
                elif kind is Probe:
                    _probe_thread(transport, effect)
            except ProviderError as exc:
                error = exc
    finally:
        flow.close()
        for stream in streams:
            stream.close()
        for handle in started:
            handle.cancel()


async def adrive(
    flow: Flow,
    transport: AsyncTransport,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> AsyncIterator[Item]:
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    streams: list[Any] = []
    started: list[Any] = []
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
            try:
                if kind is Send:
                    result = await transport.send(effect.call, effect.timeout)
                elif kind is Enter:
                    result = await effect.bulkhead.enter_async(effect.timeout)
                elif kind is Start:
                    import asyncio

                    send = effect.send
                    result = asyncio.ensure_future(transport.send(send.call, send.timeout))
                    started.append(result)
                elif kind is WaitFirst:
                    result = await _wait_first_async(effect.handles, effect.timeout)
                elif kind is Cancel:
                    await _cancel_async(effect.handle)
                elif kind is Read:
                    result = await effect.stream.read(effect.timeout)
                elif kind is Emit:
                    yield effect.chunk
                elif kind is OpenStream:
                    result = await transport.open_stream(effect.call, effect.timeout)
                    if hasattr(result, "read"):
                        streams.append(result)
                elif kind is CloseStream:
                    await _forget(streams, effect.stream).close()
                elif kind is Sleep:
                    await sleep(effect.seconds)
                elif kind is Probe:
                    import asyncio

                    task = asyncio.ensure_future(transport.send(effect.call, effect.timeout))
                    _BACKGROUND.add(task)  # a task only weakly referenced may vanish
                    task.add_done_callback(_BACKGROUND.discard)
                    task.add_done_callback(_reporter(effect))
            except ProviderError as exc:
                error = exc
    finally:
        flow.close()
        for stream in streams:
            await stream.close()
        for handle in started:
            handle.cancel()


def run(
    flow: Flow, transport: SyncTransport, sleep: Callable[[float], Any] = time.sleep
) -> LLMResponse:
    """Run a flow that emits nothing (``complete``) to its response (the last item)."""
    item: Any = None
    for item in drive(flow, transport, sleep):  # noqa: B007
        pass
    return item  # type: ignore[no-any-return]


async def arun(flow: Flow, transport: AsyncTransport) -> LLMResponse:
    item: Any = None
    async for item in adrive(flow, transport):  # noqa: B007
        pass
    return item  # type: ignore[no-any-return]


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
