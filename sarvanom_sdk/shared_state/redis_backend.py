"""The connection to Redis, and the rule that makes Redis a helper, never a dependency.

Every Redis command of the SDK goes through :meth:`RedisLink.call` (blocking, bounded: the
sync client and the SDK's background threads) or :meth:`RedisLink.acall` (awaited with
``redis.asyncio`` on the caller's event loop: the async client). Both give the command the
client and turn any failure into :class:`Unavailable`, which the caller answers by carrying
on with its local state (a refusal of one command, e.g. WRONGTYPE, is a
:class:`KeyFault`: that key's miss, not an outage). No blocking call is ever made on a
thread that runs an event loop (:func:`on_event_loop`). The outage rule, decided once in
:class:`~.outage.Outage`:

* a command blocks for at most :data:`COMMAND_BOUND_SECONDS`: 0.1 s to connect (a new
  connection; no handshake round trips) plus 0.2 s for the reply. redis-py's own retries
  are switched off;
* the first command that fails or times out opens an outage: one WARNING on the logger
  ``sarvanom_sdk`` (never one per request), and from then on commands raise
  :class:`Unavailable` at once, without any I/O;
* every :data:`RETRY_SECONDS`, one caller (the others keep going locally) tries its command
  for real; when it succeeds the outage ends (one INFO record) and state is shared again.

So during an outage a process waits on Redis at most once per retry period (one command's
bound, in the one caller that probes); while Redis answers, each command waits at most its
bound.

Writes nobody waits for (a cached answer, a breaker change, budget spend, the next lease)
are handed to :data:`WRITER`, one daemon thread per process that runs them in order, off
the request path; :func:`sarvanom_sdk.shared_state.flush` waits for them (at interpreter
exit too, at most :data:`EXIT_FLUSH_SECONDS`). When more than :data:`WRITER_LIMIT` writes
wait, a write runs in its caller instead (never dropped), unless the caller is on an event
loop (then it waits in the queue).

The password in the URL never reaches a log record or the health output (see
:func:`redacted_url`). Importing this module imports redis-py; it is imported only when
``SARVANOM_REDIS_URL`` is set.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from ..errors import ConfigurationError
from .outage import PROBE as PROBE_TICKET
from .redis_url import parse, redacted_url

__all__ = ["KeyFault", "RedisLink", "Unavailable", "make_client", "redacted_url"]

logger = logging.getLogger("sarvanom_sdk")

#: Seconds to open a connection to Redis.
CONNECT_TIMEOUT_SECONDS = 0.1
#: Seconds to wait for a reply (each socket read or write).
TIMEOUT_SECONDS = 0.2
#: The longest one command can block its caller: connect, then reply.
COMMAND_BOUND_SECONDS = CONNECT_TIMEOUT_SECONDS + TIMEOUT_SECONDS
#: After a failure, how long the link waits before one caller tries Redis again.
RETRY_SECONDS = 2.0
#: Deferred writes waiting beyond this many run in their caller's thread instead.
WRITER_LIMIT = 4096
#: How long the interpreter's exit waits for deferred writes.
EXIT_FLUSH_SECONDS = 1.0

T = TypeVar("T")


class Unavailable(Exception):
    """Redis cannot be used now; use local state. (Deliberately not a ``RedisError``:
    pybreaker's storage swallows those, and this must reach our code.)"""


class KeyFault(Unavailable):
    """Redis answered, but refused this command (``WRONGTYPE``, a script error, a value
    that is not a number...): the key is unusable, not Redis (review F17). The caller
    treats it like :class:`Unavailable` for this one operation (a miss, a closed
    breaker, a local reservation); no outage starts and the rest of the shared state
    goes on. Logged once per kind of fault."""


def _redis_py() -> Any:
    try:
        import redis
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "SARVANOM_REDIS_URL", "needs redis-py: pip install 'sarvanom-sdk[redis]'"
        ) from None
    return redis


def client_options(cls: Any) -> dict[str, Any]:
    """Bounded timeouts, no retries, no handshake commands after connecting."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
        "health_check_interval": 0,
        **_no_client_setinfo(cls),
    }


def make_client(url: str) -> Any:
    """A redis-py client for ``url`` with bounded timeouts, no retries and no handshake
    commands after connecting. Makes no connection (redis-py connects on the first
    command). ConfigurationError when redis-py is not installed or the URL is malformed
    (the message never repeats the URL: it may hold a password)."""
    return make_clients(url)[0]


def make_clients(url: str) -> tuple[Any, Callable[[], Any]]:
    """The sync client for ``url`` and a factory of ``redis.asyncio`` clients (one per
    event loop), built alike (see :mod:`.topology` for Sentinel and Cluster URLs)."""
    from .topology import clients_for

    target = parse(url)
    redis = _redis_py()
    try:
        return clients_for(target, redis)
    except (ValueError, TypeError):  # redis-py's message may carry part of the password
        raise ConfigurationError("SARVANOM_REDIS_URL", "is not a valid Redis URL") from None


def _no_client_setinfo(cls: Any) -> dict[str, Any]:
    """The keywords that stop redis-py sending CLIENT SETINFO (two round trips) on every
    new connection: ``driver_info=None`` in recent redis-py, ``lib_name``/``lib_version``
    in older ones."""
    if "driver_info" in inspect.signature(cls.__init__).parameters:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


async def _bounded(awaitable: Any, seconds: float) -> Any:
    """``await awaitable`` for at most ``seconds`` (TimeoutError): ``asyncio.timeout`` where
    there is one (no extra task per command), else ``wait_for``."""
    import asyncio

    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:
        return await asyncio.wait_for(awaitable, seconds)
    async with timeout(seconds):
        return await awaitable


def on_event_loop() -> bool:
    """True when called from a thread that is running an asyncio event loop: there, no
    Redis command may block (it is awaited, or handed to a background thread)."""
    import asyncio

    return asyncio._get_running_loop() is not None


class RedisLink:
    """One process's connection to Redis, with outage tracking (see the module docstring).

    :param client: a redis-py client (see :func:`make_client`).
    :param namespace: prefix of every key (``SARVANOM_REDIS_NAMESPACE``).
    :param label: how the server is named in logs (no credentials).
    :param retry_seconds: wait after a failure before Redis is tried again.
    :param monotonic: the clock for the retry wait (injectable for tests).
    :param async_client: makes a ``redis.asyncio`` client for the running event loop (one
        per loop, made on first use there); None: :meth:`acall` is not available.

    The outage rule is one sans-IO object (:class:`~.outage.Outage`) used by both shells:
    :meth:`call` (blocking, bounded: the sync client, background threads) and
    :meth:`acall` (awaited on the caller's event loop through ``redis.asyncio``).
    """

    def __init__(
        self,
        client: Any,
        namespace: str,
        *,
        label: str = "redis",
        retry_seconds: float = RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        async_client: Callable[[], Any] | None = None,
    ) -> None:
        from redis.exceptions import ReadOnlyError, RedisClusterException, RedisError, ResponseError

        from .outage import Outage

        self.client = client
        self.namespace = namespace
        self.label = label
        self.outage = Outage(retry_seconds, monotonic)
        self._errors: tuple[type[BaseException], ...] = (
            RedisError,
            RedisClusterException,  # not a RedisError: no node of a cluster answers
            OSError,
            TimeoutError,
        )
        # Refusals of one command (WRONGTYPE, script errors): the key's fault, not an
        # outage. A read-only replica (after a failover) is an outage of the old primary.
        self._refusal = ResponseError
        self._not_refusal = ReadOnlyError
        self._faults_logged: set[str] = set()
        self._monotonic = monotonic
        self._scripts: dict[str, Any] = {}
        self._make_async = async_client
        self._async: Any = None  # weakref.WeakKeyDictionary: loop -> client
        self.subscriber: Any = None  # .notify.Subscriber, started by the breakers

    @property
    def retry_seconds(self) -> float:
        return self.outage.retry_seconds

    @property
    def outages(self) -> int:
        return self.outage.count

    def key(self, *parts: str) -> str:
        """A key in this deployment's namespace: ``<namespace>:<part>:<part>...``."""
        return ":".join((self.namespace, *parts))

    def tagged(self, group: str, *parts: str) -> str:
        """A key of a group whose keys a Lua script touches together: ``group`` is a Redis
        Cluster hash tag (``<namespace>:{group}:<part>...``), so they share one slot."""
        return ":".join((self.namespace, "{" + group + "}", *parts))

    @property
    def reachable(self) -> bool:
        """False during an outage (as last observed; no I/O)."""
        return not self.outage.down

    # -- commands -----------------------------------------------------------------------
    def call(self, command: Callable[[Any], T]) -> T:
        """``command(client)``'s result; :class:`Unavailable` if Redis failed or is in an
        outage (:class:`KeyFault` if it refused this command). Blocks at most
        :data:`COMMAND_BOUND_SECONDS` per Redis command in ``command``, and not at all
        during an outage's retry wait."""
        ticket = self.outage.begin()
        if not ticket:
            raise Unavailable("outage")
        try:
            result = command(self.client)
        except self._errors as exc:
            raise self._failure(ticket, exc) from None
        self._success(ticket)
        return result

    async def acall(self, command: Callable[[Any], Any]) -> Any:
        """As :meth:`call`, awaited: ``await command(async_client)`` on the running loop,
        bounded by :data:`COMMAND_BOUND_SECONDS` (the event loop is never blocked)."""
        import asyncio

        errors = self._errors + (asyncio.TimeoutError,)
        ticket = self.outage.begin()
        if not ticket:
            raise Unavailable("outage")
        try:
            client = self._async_client()
            result = await _bounded(command(client), COMMAND_BOUND_SECONDS + 0.05)
        except errors as exc:
            raise self._failure(ticket, exc) from None
        except BaseException:
            if ticket == PROBE_TICKET:
                self.outage.failed(ticket)
            raise
        self._success(ticket)
        return result

    def _async_client(self) -> Any:
        import asyncio
        import weakref

        if self._make_async is None:
            raise Unavailable("no async client")
        if self._async is None:
            self._async = weakref.WeakKeyDictionary()
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = self._make_async()
        return client

    def _success(self, ticket: int) -> None:
        lasted = self.outage.succeeded(ticket)
        if lasted is not None:
            logger.info(
                "shared state: Redis at %s reachable again after %.1f s; state is shared again",
                self.label,
                lasted,
                extra={"shared_state": "up", "redis": self.label},
            )

    def _failure(self, ticket: int, exc: BaseException) -> Unavailable:
        if self._refused(exc):
            self._success(ticket)  # it answered: Redis is up
            return KeyFault(type(exc).__name__)
        if self.outage.failed(ticket):
            logger.warning(
                "shared state: Redis at %s unavailable (%s: %s); carrying on with local "
                "state, retrying every %.0f s",
                self.label,
                type(exc).__name__,
                str(exc)[:200],
                self.retry_seconds,
                extra={"shared_state": "down", "redis": self.label},
            )
        return Unavailable(type(exc).__name__)

    def defer(self, command: Callable[[Any], object]) -> None:
        """Run ``command(client)`` later on :data:`WRITER`'s thread; dropped when Redis is
        unavailable. For writes nobody waits for."""

        def job() -> None:
            with suppress(Unavailable):
                self.call(command)

        WRITER.submit(job)

    def script(self, source: str) -> Any:
        """A redis-py ``Script`` for ``source`` (EVALSHA; reloaded after a Redis restart)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.client.register_script(source)
        return found

    def run_script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a Lua script through :meth:`call`."""
        script = self.script(source)
        return self.call(lambda client: script(keys=list(keys), args=list(args), client=client))

    async def arun_script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a Lua script through :meth:`acall` (EVALSHA, loaded on NOSCRIPT)."""

        async def run(client: Any) -> Any:
            return await client.register_script(source)(keys=list(keys), args=list(args))

        return await self.acall(run)

    def ping(self) -> bool:
        """True when a PING succeeds now (no I/O during an outage's retry wait)."""
        try:
            return bool(self.call(lambda client: client.ping()))
        except Unavailable:
            return False

    # -- refusals -----------------------------------------------------------------------
    def _refused(self, exc: BaseException) -> bool:
        """True for a refusal of one command (see :class:`KeyFault`); logs the first
        refusal of each kind (the error's first word, e.g. WRONGTYPE) once."""
        if not isinstance(exc, self._refusal) or isinstance(exc, self._not_refusal):
            return False
        kind = (str(exc).split(" ", 1)[0] or type(exc).__name__)[:40]
        if kind not in self._faults_logged and len(self._faults_logged) < 64:
            self._faults_logged.add(kind)
            logger.warning(
                "shared state: Redis at %s refused a command (%s: %s); that key is treated "
                "as missing, the rest of the shared state goes on",
                self.label,
                type(exc).__name__,
                str(exc)[:120],
                extra={"shared_state": "key_fault", "redis": self.label},
            )
        return True


class Writer:
    """Runs deferred writes in order on one daemon thread (started on first use; a forked
    child starts its own and does not inherit its parent's queue). A job's failure is
    logged at DEBUG and otherwise ignored: jobs handle :class:`Unavailable` themselves."""

    def __init__(self, limit: int = WRITER_LIMIT) -> None:
        self._limit = limit
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._jobs: deque[Callable[[], None]] = deque()
        self._busy = False
        self._started = False

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` soon on the writer thread (or now, here, if too many wait)."""
        with self._cond:
            if not self._started:
                self._started = True
                threading.Thread(
                    target=self._run, name="sarvanom-redis-writer", daemon=True
                ).start()
            if len(self._jobs) < self._limit or on_event_loop():
                self._jobs.append(job)
                self._cond.notify_all()
                return
        _run_job(job)

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted job ran (True) or ``timeout`` passed (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                job = self._jobs.popleft()
                self._busy = True
            try:
                _run_job(job)
            finally:
                del job  # the last job must not keep its client alive while idle
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _run_job(job: Callable[[], None]) -> None:
    try:
        job()
    except Exception as exc:  # a bug must not kill the writer thread
        logger.debug("shared state: deferred write failed (%s)", type(exc).__name__)


#: This process's writer of deferred Redis writes.
WRITER = Writer()
os.register_at_fork(after_in_child=WRITER._reset)
atexit.register(WRITER.flush, EXIT_FLUSH_SECONDS)
