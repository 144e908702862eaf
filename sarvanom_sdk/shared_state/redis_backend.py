"""The connection to Redis, and the rule that makes Redis a helper, never a dependency.

Every Redis command of the SDK goes through :meth:`RedisLink.call`. It gives the command
the client, and turns any failure into :class:`Unavailable`, which the caller answers by
carrying on with its local state. The link remembers an outage:

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

Writes nobody waits for (a cached answer, a budget settlement) are handed to
:data:`WRITER`, one daemon thread per process that runs them in order, off the request
path; :func:`sarvanom_sdk.shared_state.flush` waits for them (at interpreter exit too, at most
:data:`EXIT_FLUSH_SECONDS`). When more than :data:`WRITER_LIMIT` writes wait, a write runs
in its caller instead (never dropped).

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


def make_client(url: str) -> Any:
    """A redis-py client for ``url`` with bounded timeouts, no retries and no handshake
    commands after connecting. Makes no connection (redis-py connects on the first
    command). ConfigurationError when redis-py is not installed or the URL is malformed
    (the message never repeats the URL: it may hold a password)."""
    target = parse(url)
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise ConfigurationError(
            "SARVANOM_REDIS_URL", "needs redis-py: pip install 'sarvanom-sdk[redis]'"
        ) from None
    try:
        return redis.Redis.from_url(
            target.url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,  # pybreaker's CircuitRedisStorage needs bytes
            health_check_interval=0,
            **_no_client_setinfo(redis.Redis),
        )
    except (ValueError, TypeError):  # redis-py's message may carry part of the password
        raise ConfigurationError("SARVANOM_REDIS_URL", "is not a valid Redis URL") from None


def _no_client_setinfo(cls: Any) -> dict[str, Any]:
    """The keywords that stop redis-py sending CLIENT SETINFO (two round trips) on every
    new connection: ``driver_info=None`` in recent redis-py, ``lib_name``/``lib_version``
    in older ones."""
    if "driver_info" in inspect.signature(cls.__init__).parameters:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


class RedisLink:
    """One process's connection to Redis, with outage tracking (see the module docstring).

    :param client: a redis-py client (see :func:`make_client`).
    :param namespace: prefix of every key (``SARVANOM_REDIS_NAMESPACE``).
    :param label: how the server is named in logs (no credentials).
    :param retry_seconds: wait after a failure before Redis is tried again.
    :param monotonic: the clock for the retry wait (injectable for tests).
    """

    def __init__(
        self,
        client: Any,
        namespace: str,
        *,
        label: str = "redis",
        retry_seconds: float = RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis.exceptions import ReadOnlyError, RedisError, ResponseError

        self.client = client
        self.namespace = namespace
        self.label = label
        self.retry_seconds = retry_seconds
        self.outages = 0
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError)
        # Refusals of one command (WRONGTYPE, script errors): the key's fault, not an
        # outage. A read-only replica (after a failover) is an outage of the old primary.
        self._refusal = ResponseError
        self._not_refusal = ReadOnlyError
        self._faults_logged: set[str] = set()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._probe = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._scripts: dict[str, Any] = {}

    def key(self, *parts: str) -> str:
        """A key in this deployment's namespace: ``<namespace>:<part>:<part>...``."""
        return ":".join((self.namespace, *parts))

    @property
    def reachable(self) -> bool:
        """False during an outage (as last observed; no I/O)."""
        return self._down_since is None

    # -- commands -----------------------------------------------------------------------
    def call(self, command: Callable[[Any], T]) -> T:
        """``command(client)``'s result; :class:`Unavailable` if Redis failed or is in an
        outage. Blocks at most :data:`COMMAND_BOUND_SECONDS` per Redis command in
        ``command`` (one, for every caller here), and not at all during an outage's retry
        wait."""
        if self._down_since is None:
            try:
                return command(self.client)
            except self._errors as exc:
                if self._refused(exc):
                    raise KeyFault(type(exc).__name__) from None
                self._lost(exc)
                raise Unavailable(type(exc).__name__) from None
        if self._monotonic() < self._retry_at or not self._probe.acquire(blocking=False):
            raise Unavailable("outage")
        try:
            try:
                result = command(self.client)
            except self._errors as exc:
                if self._refused(exc):
                    self._back()  # it answered: Redis is up
                    raise KeyFault(type(exc).__name__) from None
                self._retry_at = self._monotonic() + self.retry_seconds
                raise Unavailable("outage") from None
            self._back()
            return result
        finally:
            self._probe.release()

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

    def ping(self) -> bool:
        """True when a PING succeeds now (no I/O during an outage's retry wait)."""
        try:
            return bool(self.call(lambda client: client.ping()))
        except Unavailable:
            return False

    # -- outage bookkeeping -------------------------------------------------------------
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

    def _lost(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            now = self._monotonic()
            self._down_since = now
            self._retry_at = now + self.retry_seconds
            self.outages += 1
        logger.warning(
            "shared state: Redis at %s unavailable (%s: %s); carrying on with local state, "
            "retrying every %.0f s",
            self.label,
            type(exc).__name__,
            str(exc)[:200],
            self.retry_seconds,
            extra={"shared_state": "down", "redis": self.label},
        )

    def _back(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            logger.info(
                "shared state: Redis at %s reachable again after %.1f s; state is shared again",
                self.label,
                self._monotonic() - since,
                extra={"shared_state": "up", "redis": self.label},
            )


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
            if len(self._jobs) < self._limit:
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
