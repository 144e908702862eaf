"""Serving the gateway from several processes: ``sarvanom serve --workers N`` (issue 18
goal 3).

**Model: pre-fork.** The parent binds the listening sockets once, then forks the workers
before any event loop, client session or thread exists (the F2 rule of
:mod:`sarvanom_sdk.transports.fork`); each worker builds its own client and app and
serves the sockets it inherited. Binding in the parent means ``--port 0`` picks one port
for every worker, a bind error is reported once before anything starts, and a worker
that is restarted serves the very socket its predecessor did.

On Linux the parent binds one socket *per worker* on the same address with
``SO_REUSEPORT``: the kernel spreads new connections evenly over them (with one shared
socket, whichever worker wakes first takes a whole burst of connections), and the parent
keeps every socket open, so connections that arrive while a worker is being restarted wait
in its socket's queue instead of being refused. Elsewhere (no ``SO_REUSEPORT``, or one
that does not balance) all workers share one socket.

**Supervision** (:func:`supervise`): SIGTERM or SIGINT to the parent is sent on to every
worker as SIGTERM; each drains as a single process does (stops accepting, cuts trickling
uploads, gives in-flight requests ``--shutdown-timeout``) and the parent returns once all
have exited (a worker still running ``shutdown_timeout + 10`` s later is killed). A worker
that dies otherwise is logged and restarted after a backoff (0.5 s, doubling up to 30 s
while it keeps dying within 10 s of its start), so a crash loop does not spin. A worker
that exits with :data:`EXIT_CONFIG` (it could not build its app: a configuration error)
stops the whole gateway instead: restarting would not help.

**Metrics** (:func:`multiprocess_metrics`): prometheus-client's multiprocess mode, in a
private directory the parent makes (and removes at exit) and names in
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports prometheus-client, so a scrape
answered by any worker shows the totals of all (see :mod:`.metrics`).

Everything else a worker holds is its own (breakers, cache, health, the in-flight gate,
the connection cap, bulkheads; the cost budget and token limits unless Redis shares
them): see :mod:`.shares` for how the operator's limits are divided between workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("sarvanom_sdk.gateway.workers")

#: A worker's exit status for "could not start: configuration" (sysexits' EX_CONFIG).
EXIT_CONFIG = 78
#: Response header naming the worker (its pid) that answered, in multi-worker mode.
WORKER_HEADER = "x-sarvanom-worker"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
#: A worker that ran this long before dying is restarted after the first backoff again.
STABLE_SECONDS = 10.0
#: How often a worker refreshes its gauges in the shared metrics (seconds).
GAUGE_REFRESH_SECONDS = 1.0


def can_fork() -> bool:
    """Whether this platform has ``os.fork`` (POSIX); elsewhere the gateway is one process."""
    return hasattr(os, "fork")


def default_workers(cgroup: str = "/sys/fs/cgroup") -> int:
    """The cores this process may use: its CPU affinity (else ``os.cpu_count()``), lowered
    to the cgroup's CPU quota when one is set (a container started with ``--cpus 2`` on a
    64-core host gets 2, not 64). 1 where processes cannot be forked."""
    if not can_fork():
        return 1
    cores = os.cpu_count() or 1
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        with contextlib.suppress(OSError):
            cores = max(1, len(affinity(0)))
    quota = cgroup_cpu_quota(cgroup)
    return max(1, min(cores, quota)) if quota is not None else cores


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> int | None:
    """Whole cores (rounded up) of the cgroup's CPU quota: cgroup v2 ``cpu.max``
    (``"200000 100000"``; ``"max ..."``: none) or v1 ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` (-1: none). None when there is no quota or it cannot be read."""
    import math

    def read(name: str) -> str | None:
        try:
            with open(os.path.join(root, name)) as file:
                return file.read().strip()
        except OSError:
            return None

    quota: str | None
    period: str | None
    text = read("cpu.max")
    if text is not None:
        quota, _, period = text.partition(" ")
    else:
        quota, period = read("cpu/cpu.cfs_quota_us"), read("cpu/cpu.cfs_period_us")
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None  # "max", or nothing to read
    if q <= 0 or p <= 0:
        return None
    return max(1, math.ceil(q / p))


# -- listening sockets ---------------------------------------------------------------------
def _reuseport_balances() -> bool:
    """SO_REUSEPORT spreads connections over the sockets (Linux; BSD's only shares)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_listeners(host: str, port: int, workers: int) -> list[list[socket.socket]]:
    """Listening sockets for ``host:port`` (0: a free port, the same for all): one group
    per worker with SO_REUSEPORT on Linux, else one group every worker shares. A group
    holds one socket per address ``host`` resolves to. OSError when it cannot be bound
    (nothing is left open)."""
    from .server import BACKLOG

    copies = workers if workers > 1 and _reuseport_balances() else 1
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    seen: set[Any] = set()
    addresses = []
    for family, kind, proto, _, address in infos:
        if (family, address) not in seen:
            seen.add((family, address))
            addresses.append((family, kind, proto, address))
    groups: list[list[socket.socket]] = []
    try:
        for _ in range(copies):
            group: list[socket.socket] = []
            groups.append(group)
            for i, (family, kind, proto, address) in enumerate(addresses):
                sock = socket.socket(family, kind, proto)
                group.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if copies > 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if groups[0] is not group:  # the same port as the first group's
                    address = (address[0], groups[0][i].getsockname()[1], *address[2:])
                try:
                    if copies > 1 and groups[0] is group:
                        address = _exclusive_probe(family, kind, proto, address)
                    sock.bind(address)
                except OSError as error:  # worded as asyncio's, as with one process
                    raise OSError(
                        error.errno,
                        f"error while attempting to bind on address {address!r}: "
                        f"{(error.strerror or str(error)).lower()}",
                    ) from None
                sock.listen(BACKLOG)
                sock.setblocking(False)
    except BaseException:
        for sock in (s for group in groups for s in group):
            sock.close()
        raise
    return groups


def _exclusive_probe(family: int, kind: int, proto: int, address: Any) -> Any:
    """``address`` with its port chosen (for port 0), after checking that nothing listens
    there: a socket without SO_REUSEPORT binds it first and is closed. Without this check
    a second gateway (or any process of the same user with SO_REUSEPORT) would silently
    share the port with this one instead of the bind failing."""
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(address)
        return (address[0], probe.getsockname()[1], *address[2:])


# -- shared metrics -------------------------------------------------------------------------
@contextlib.contextmanager
def multiprocess_metrics() -> Iterator[Callable[[int], None]]:
    """A private directory for prometheus-client's multiprocess mode, named in
    ``PROMETHEUS_MULTIPROC_DIR`` for the workers forked inside the block and removed
    after it; yields the function to call with a worker's pid once it has exited (its live
    gauges are dropped)."""
    path = tempfile.mkdtemp(prefix="sarvanom-metrics-")
    previous = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = path
    _choose_value_class()

    def process_dead(pid: int) -> None:
        with contextlib.suppress(ImportError, OSError):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]

    try:
        yield process_dead
    finally:
        if previous is None:
            os.environ.pop(METRICS_DIR_ENV, None)
        else:
            os.environ[METRICS_DIR_ENV] = previous
        _choose_value_class()
        shutil.rmtree(path, ignore_errors=True)


def _choose_value_class() -> None:
    """prometheus-client picks its value class (in memory, or files in the multiprocess
    directory) when first imported; when it was imported already, pick again now."""
    values: Any = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()


# -- in each worker ------------------------------------------------------------------------
def prepare_worker_app(app: Any, supervisor: int | None = None) -> None:
    """What a worker adds to its gateway app: the ``x-sarvanom-worker`` header (its pid:
    which worker answered) and a task that, every second, keeps this worker's gauges (in
    flight, waiting, breaker states) current for scrapes other workers answer (with
    shared metrics), and drains the worker (SIGTERM to itself) if its ``supervisor`` (a
    pid; default: the process that forked it) is gone, so no orphan keeps serving."""
    from .app import GATEWAY

    pid = str(os.getpid())
    parent = supervisor or _supervisor or os.getppid()

    async def stamp(request: Any, response: Any) -> None:
        response.headers[WORKER_HEADER] = pid

    async def keep(app: Any) -> AsyncIterator[None]:
        import asyncio

        gateway = app[GATEWAY]
        metrics = gateway.metrics if gateway.metrics and gateway.metrics.multiprocess else None

        async def loop() -> None:
            while True:
                if os.getppid() != parent:
                    logger.warning("worker %s: the supervisor is gone; stopping", pid)
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                if metrics is not None:
                    try:
                        health = await gateway.client.get_provider_health()
                        metrics.refresh(
                            health, gateway.gate.in_flight, gateway.gate.waiting,
                            gateway.client.router.hedges,
                        )
                    except Exception:  # a metrics refresh must never stop the worker
                        logger.debug("worker %s: gauge refresh failed", pid, exc_info=True)
                await asyncio.sleep(GAUGE_REFRESH_SECONDS)

        task = asyncio.ensure_future(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.on_response_prepare.append(stamp)
    app.cleanup_ctx.append(keep)


# -- the supervisor ------------------------------------------------------------------------
@dataclass
class _Slot:
    index: int
    pid: int | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    runs: int = 0


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def backoff(failures: int) -> float:
    """Seconds before restarting a worker that died ``failures`` times in a row."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** max(0, failures - 1))


def supervise(
    work: Callable[[int, bool], int],
    workers: int,
    *,
    shutdown_timeout: float,
    on_exit: Callable[[int], None] = lambda pid: None,
    poll: float = 0.05,
) -> int:
    """Fork ``workers`` processes running ``work(index, first)`` (``first``: the slot's
    first run; its return value is the process's exit status), restart those that die,
    stop them all on SIGTERM/SIGINT; see the module docstring. ``on_exit(pid)`` runs for
    every worker that exited. Returns the exit status for the parent: 0 after a graceful
    stop, 1 when a worker reported a configuration error."""
    slots = [_Slot(i) for i in range(workers)]
    stop: list[int] = []
    status = 0

    def on_signal(signum: int, frame: Any) -> None:
        stop.append(signum)

    previous: dict[int, Any] = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    deadline: float | None = None
    try:
        for slot in slots:
            _spawn(slot, work, previous)
        while True:
            now = time.monotonic()
            for slot in slots:
                if slot.pid is None:
                    continue
                pid, raw = os.waitpid(slot.pid, os.WNOHANG)
                if pid == 0:
                    continue
                slot.pid = None
                on_exit(pid)
                if stop:
                    logger.debug("worker %d (pid %d) %s", slot.index, pid, _describe(raw))
                    continue
                if os.waitstatus_to_exitcode(raw) == EXIT_CONFIG:
                    logger.error("worker %d could not start; stopping the gateway", slot.index)
                    status = 1
                    stop.append(signal.SIGTERM)
                    continue
                slot.failures = 1 if now - slot.started >= STABLE_SECONDS else slot.failures + 1
                delay = backoff(slot.failures)
                slot.restart_at = now + delay
                logger.warning(
                    "worker %d (pid %d) %s; restarting it in %.1fs",
                    slot.index, pid, _describe(raw), delay,
                )
            live = [s for s in slots if s.pid is not None]
            if stop:
                if deadline is None:
                    deadline = now + shutdown_timeout + 10.0
                    for slot in live:
                        _signal(slot.pid, signal.SIGTERM)
                if not live:
                    return status
                if now > deadline:
                    for slot in live:
                        logger.warning("worker %d (pid %d) did not stop; killing it",
                                       slot.index, slot.pid)
                        _signal(slot.pid, signal.SIGKILL)
                    deadline = now + 5.0
            else:
                for slot in slots:
                    if slot.pid is None and slot.restart_at is not None and now >= slot.restart_at:
                        _spawn(slot, work, previous)
            time.sleep(poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for slot in slots:  # only when the parent itself failed: leave no orphan
            if slot.pid is not None:
                _signal(slot.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(slot.pid, 0)


def _signal(pid: int | None, sig: int) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
#: In a worker: its supervisor's pid (0 elsewhere).
_supervisor = 0


def _spawn(slot: _Slot, work: Callable[[int, bool], int], handlers: dict[int, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    first = slot.runs == 0
    # blocked across the fork: a stop signal is never taken by the parent's handler in the
    # child; the child gets it once its own handlers are back
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the parent's code
        global _supervisor
        _supervisor = parent  # known now: the parent may die before the app is built
        code = 1
        try:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            code = work(slot.index, first)
        except SystemExit as exit_:
            code = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1
        except KeyboardInterrupt:  # Ctrl-C reached the worker before its loop ran
            code = 130
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    slot.pid = pid
    slot.runs += 1
    slot.started = time.monotonic()
    slot.restart_at = None
    if not first:
        logger.info("worker %d restarted (pid %d)", slot.index, pid)
