"""One listener thread per process: breaker changes from other processes, pushed by Redis
pub/sub, and a periodic tick.

The breakers keep a local mirror of their shared state (:mod:`.circuit_storage`), so
admission reads no Redis at all. Every state change is written by a Lua script that also
``PUBLISH``-es the breaker's new fields on ``<namespace>:breakers``; this thread is
subscribed to that channel and applies each message to the breaker it names (a breaker
opened in one process is seen by the others a pub/sub hop later: milliseconds). Messages
are lost while the subscription is down, so every (re)subscription is followed by a full
read of every registered breaker (:meth:`Subscriber.register`'s ``resync``), and that read
is repeated every :data:`RESYNC_SECONDS` as a safety net.

The thread also runs the registered ticks every :data:`TICK_SECONDS` (the budget ledger
gives back an unused lease). It is a daemon, started on first registration and again in a
forked child (checked with a cheap counter on the hot path), and never touches an event
loop: this is how the async client shares breakers without a Redis call on its loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any

logger = logging.getLogger("sarvanom_sdk")

#: How long the listener waits for a message before running its ticks.
TICK_SECONDS = 0.25
#: Every registered breaker is read again this often, in case a message was lost.
RESYNC_SECONDS = 5.0

#: Incremented in a forked child: a listener started before the fork is not running there.
FORKS = [0]
os.register_at_fork(after_in_child=lambda: FORKS.__setitem__(0, FORKS[0] + 1))


class Subscriber:
    def __init__(self, link: Any, channel: str) -> None:
        self._link = link
        self.channel = channel
        self._lock = threading.Lock()
        self._handlers: dict[bytes, Callable[[bytes], None]] = {}
        self._resyncs: list[Callable[[], None]] = []
        self._ticks: list[Any] = []
        self._running_in = -1  # FORKS[0] of the process the thread runs in
        self.subscribed = threading.Event()
        self._resync_at = 0.0

    # -- registration -------------------------------------------------------------------
    def register(
        self, key: str, on_message: Callable[[bytes], None], resync: Callable[[], None]
    ) -> None:
        """Call ``on_message(payload)`` for each message about ``key``; ``resync()`` (it
        reads the key itself) after every (re)subscription and every RESYNC_SECONDS."""
        with self._lock:
            self._handlers[key.encode()] = on_message
            self._resyncs.append(resync)
        self.ensure()

    def add_tick(self, tick: Callable[[], None]) -> None:
        """Call ``tick()`` (a bound method, held weakly) every TICK_SECONDS."""
        with self._lock:
            self._ticks.append(weakref.WeakMethod(tick))
        self.ensure()

    def ensure(self) -> None:
        """Start the listener if it is not running in this process (cheap when it is)."""
        if self._running_in == FORKS[0]:
            return
        with self._lock:
            if self._running_in == FORKS[0]:
                return
            self._running_in = FORKS[0]
            self.subscribed = threading.Event()
            self._start()

    # -- the thread (it holds the subscriber weakly: it ends when the client is gone) -----
    def _start(self) -> None:
        threading.Thread(
            target=_loop, args=(weakref.ref(self), FORKS[0]), name="sarvanom-redis-listener",
            daemon=True,
        ).start()

    def _subscribe(self) -> Any:
        pubsub = self._link.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
        except BaseException:
            _close(pubsub)
            raise
        self._resync_all()
        self._resync_at = time.monotonic() + RESYNC_SECONDS
        self.subscribed.set()
        return pubsub

    def _step(self, pubsub: Any, message: Any) -> None:
        while message is not None:
            self._dispatch(message.get("data"))
            message = pubsub.get_message(timeout=0)
        self._tick()
        if time.monotonic() >= self._resync_at:
            self._resync_at = time.monotonic() + RESYNC_SECONDS
            self._resync_all()

    def _dispatch(self, data: Any) -> None:
        if not isinstance(data, bytes) or len(data) > 512:
            return  # not one of ours (F9): ignored
        key = data.split(b"|", 1)[0]
        handler = self._handlers.get(key)
        if handler is not None:
            try:
                handler(data)
            except Exception:  # noqa: BLE001 - a bad message must not stop the listener
                logger.debug("shared state: ignored a malformed breaker message")

    def _resync_all(self) -> None:
        with self._lock:
            resyncs = list(self._resyncs)
        for resync in resyncs:
            try:
                resync()
            except Exception:  # noqa: BLE001 - Unavailable, or a bug: next round
                logger.debug("shared state: breaker resync failed")

    def _tick(self) -> None:
        with self._lock:
            self._ticks = [t for t in self._ticks if t() is not None]
            ticks = [t() for t in self._ticks]
        for tick in ticks:
            try:
                tick()
            except Exception:  # noqa: BLE001
                logger.debug("shared state: tick failed")


def _loop(ref: Callable[[], Subscriber | None], mine: int) -> None:
    """The listener: subscribe (then resync), then messages and ticks, until the
    subscriber is collected or the process forks; reconnect after any failure."""
    pubsub: Any = None
    while mine == FORKS[0]:
        message = None
        try:
            if pubsub is not None:  # wait without holding the subscriber
                message = pubsub.get_message(timeout=TICK_SECONDS)
        except Exception:  # noqa: BLE001 - handled below, with the subscriber
            _close(pubsub)
            pubsub = None
        sub = ref()
        if sub is None:
            break
        try:
            if pubsub is None:
                pubsub = sub._subscribe()
            sub._step(pubsub, message)
        except Exception as exc:  # connection lost: wait, subscribe again, resync
            if sub.subscribed.is_set() or pubsub is not None:
                logger.debug("shared state: listener reconnecting (%s)", type(exc).__name__)
            sub.subscribed.clear()
            _close(pubsub)
            pubsub = None
            wait = min(sub._link.retry_seconds, 1.0)
            del sub
            time.sleep(wait)
            continue
        del sub
    _close(pubsub)


def _close(pubsub: Any) -> None:
    if pubsub is not None:
        with suppress(Exception):  # best effort
            pubsub.close()
