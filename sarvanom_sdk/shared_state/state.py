"""Which state a client keeps where: :class:`LocalState` (this process only) or
:class:`RedisState` (shared through Redis, each kind with a local fallback).

``Core.build`` asks the backend for each breaker's storage and trial gate, the cache's
shared level and the budget ledger; ``None`` means "use the local default".
"""

from __future__ import annotations

import hashlib
import re
import sys
from typing import Any, Protocol

from ..errors import ConfigurationError
from ..layers.cache import SharedLevel
from ..layers.cost import BudgetLedger, Ledger
from ..settings import Settings

_NAMESPACE = re.compile(r"[A-Za-z0-9_.:{}-]{1,64}")


class StateBackend(Protocol):
    def circuit_storage(self, provider: str, url: str) -> Any:
        """A pybreaker storage for the breaker of ``provider`` at ``url`` (None: memory)."""

    def trial_gate(self, provider: str, url: str, ttl_seconds: float) -> Any:
        """That breaker's half-open trial gate (None: a local lock)."""

    def cache_level(self, lifetime_seconds: float) -> SharedLevel | None:
        """The response cache's shared level (None: local only)."""

    def ledger(self, budget_usd: float | None) -> Ledger:
        """The budget ledger."""

    def describe(self) -> dict[str, Any]:
        """The ``shared_state`` entry of the health report."""


class LocalState:
    """Everything in this process: breakers in memory, a local trial lock, the in-process
    cache, a ledger under a lock."""

    def circuit_storage(self, provider: str, url: str) -> Any:
        return None

    def trial_gate(self, provider: str, url: str, ttl_seconds: float) -> Any:
        return None

    def cache_level(self, lifetime_seconds: float) -> SharedLevel | None:
        return None

    def ledger(self, budget_usd: float | None) -> Ledger:
        return BudgetLedger(budget_usd)

    def describe(self) -> dict[str, Any]:
        return {"backend": "local", "reachable": None, "namespace": None, "shared": []}


class RedisState:
    """Breakers, cache and budget in Redis under ``link.namespace`` (see the package
    docstring). Building it makes no connection."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self._shared: set[str] = set()

    def _breaker_key(self, provider: str, url: str) -> str:
        # One hash per breaker; the URL is hashed, never stored. Hash-tagged: the
        # breaker's hash and its trial lock live in one Cluster slot.
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return str(self.link.tagged(f"breaker:{provider}:{digest}"))

    def _subscriber(self) -> Any:
        from .notify import Subscriber

        if self.link.subscriber is None:
            self.link.subscriber = Subscriber(self.link, self.link.key("breakers"))
        return self.link.subscriber

    def circuit_storage(self, provider: str, url: str) -> Any:
        from .circuit_storage import SharedCircuitStorage

        self._shared.add("circuit_breakers")
        key = self._breaker_key(provider, url)
        return SharedCircuitStorage(self.link, key, self._subscriber())

    def trial_gate(self, provider: str, url: str, ttl_seconds: float) -> Any:
        from .circuit_storage import SharedTrialGate

        key = f"{self._breaker_key(provider, url)}:trial"
        return SharedTrialGate(self.link, key, ttl_seconds)

    def cache_level(self, lifetime_seconds: float) -> SharedLevel | None:
        from .cache_backend import RedisCacheLevel

        self._shared.add("response_cache")
        return RedisCacheLevel(self.link, lifetime_seconds)

    def ledger(self, budget_usd: float | None) -> Ledger:
        if budget_usd is None:
            return BudgetLedger(None)  # nothing to enforce: spend is counted per process
        from .ledger import SharedBudgetLedger

        self._shared.add("budget")
        return SharedBudgetLedger(self.link, budget_usd)

    def describe(self) -> dict[str, Any]:
        """Backend, whether Redis answered the last command (no I/O here: a health check
        never waits on Redis; a PING is sent in the background for the next report),
        namespace, what is shared, the server (no credentials)."""
        from .redis_backend import WRITER

        WRITER.submit(self.link.ping)  # refreshes what the next report says
        return {
            "backend": "redis",
            "reachable": self.link.reachable,
            "namespace": self.link.namespace,
            "shared": sorted(self._shared),
            "url": self.link.label,
        }


def flush(timeout: float = 1.0) -> bool:
    """Wait (at most ``timeout`` s) until this process's deferred Redis writes (cached
    answers, budget settlements) are made; True when they are (or none were ever made)."""
    if "sarvanom_sdk.shared_state.redis_backend" not in sys.modules:
        return True
    from .redis_backend import WRITER

    if "sarvanom_sdk.shared_state.ledger" in sys.modules:
        from .ledger import send_pending

        WRITER.submit(send_pending)  # budget spend is batched: send it now
    return WRITER.flush(timeout)


def open_shared_state(settings: Settings) -> StateBackend:
    """The backend ``settings`` ask for: Redis when ``redis_url`` is set, else local.

    Raises ConfigurationError for a malformed namespace or when redis-py is missing;
    never because Redis is unreachable (nothing is sent before the first request)."""
    if not settings.redis_url:
        return LocalState()
    namespace = settings.redis_namespace
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigurationError(
            "SARVANOM_REDIS_NAMESPACE", "must be 1-64 characters of A-Z a-z 0-9 _ . : { } -"
        )
    from .redis_backend import RedisLink, make_clients, redacted_url

    client, make_async = make_clients(settings.redis_url)
    label = redacted_url(settings.redis_url)
    return RedisState(RedisLink(client, namespace, label=label, async_client=make_async))
