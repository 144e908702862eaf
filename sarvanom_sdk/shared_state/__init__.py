"""State shared by every worker of a deployment through Redis (optional).

With ``SARVANOM_REDIS_URL`` set (and ``pip install 'sarvanom-sdk[redis]'``), state moves
into Redis, under ``SARVANOM_REDIS_NAMESPACE`` (default ``sarvanom``); the URL may name one
server, a Sentinel-managed primary or a Cluster (:mod:`.redis_url`, :mod:`.topology`):

* circuit breakers and Retry-After/quota holds (:mod:`.circuit_storage`): a local mirror
  of one Redis hash per breaker, changed by Lua scripts that publish the change, applied
  by every process's listener (:mod:`.notify`); a ``SET NX PX`` trial lock lets exactly
  one process make the half-open trial call;
* the response cache (:mod:`.cache_backend`): a second level behind each process's own
  ``TTLCache``, entries with the same lifetime, values bounded in size and validated;
* the budget ledger (:mod:`.ledger`, only when ``SARVANOM_BUDGET_USD`` is set): paid calls
  reserved from per-process leases of the budget;
* per-token limits for the gateway (:mod:`.limiter`), when the gateway builds one.

A successful call to a healthy provider with the cache off makes no Redis round trip; no
Redis call ever blocks an event loop (the async client awaits ``redis.asyncio``; the rest
is done by background threads). Redis is a helper, never a single point of failure
(:mod:`.redis_backend`, :mod:`.outage`): a command blocks a sync caller at most
:data:`~.redis_backend.COMMAND_BOUND_SECONDS` (0.3 s); the first failure switches the
process to its local state, with one WARNING per outage; every
:data:`~.redis_backend.RETRY_SECONDS` (2 s) one caller tries Redis again. Nothing read back
is trusted (malformed values are misses or closed breakers).

Nothing secret is written: cache keys are sha256 hashes of the request, breaker keys hash
the endpoint URL, limiter keys hash the token's name, cached values hold only the answer
(as the caller chose to cache it), and API keys never reach Redis. Importing this package
imports neither redis-py nor pybreaker; redis-py is needed only when a client is built with
a Redis URL.
"""

from __future__ import annotations

from .state import LocalState, RedisState, StateBackend, flush, open_shared_state

__all__ = ["LocalState", "RedisState", "StateBackend", "flush", "open_shared_state"]
