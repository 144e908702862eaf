"""State shared by every worker of a deployment through Redis (optional).

With ``SARVANOM_REDIS_URL`` set (and ``pip install 'sarvanom-sdk[redis]'``), three kinds of
state move into Redis, under ``SARVANOM_REDIS_NAMESPACE`` (default ``sarvanom``):

* circuit breakers (:mod:`.circuit_storage`): pybreaker's ``CircuitRedisStorage``; a
  breaker opened by any process is seen by every other one on its next request, and a
  ``SET NX PX`` trial lock lets exactly one process make the half-open trial call;
* the response cache (:mod:`.cache_backend`): a second level behind each process's own
  ``TTLCache``, entries with the same lifetime, values bounded in size;
* the budget ledger (:mod:`.ledger`, only when ``SARVANOM_BUDGET_USD`` is set): the
  worst case reserved atomically before a paid call, settled to the real cost after.

Redis is a helper, never a single point of failure (:mod:`.redis_backend`): a command
blocks its caller at most :data:`~.redis_backend.COMMAND_BOUND_SECONDS` (0.3 s: 0.1 s to
connect, 0.2 s for the reply; no retries); the first failure or timeout switches the
process to its local state, with one WARNING on the ``sarvanom_sdk`` logger per outage;
every :data:`~.redis_backend.RETRY_SECONDS` (2 s) one caller tries Redis again, and state
is shared again as soon as it answers. So while Redis is down or hung, a request waits on
it at most 0.3 s, and only the requests in flight when it fails and then one per process
every 2 s (the probe) wait at all. While Redis answers, a request makes one round trip
for its breaker (a few more when a breaker changes state), one for a cache lookup its
own process could not answer, and one to reserve a paid call's budget, each bounded the
same way; cached answers and budget settlements are written afterwards by a background
thread. This holds for the event loop of the async client too: these calls are
synchronous and bounded, not awaited.

Nothing secret is written: cache keys are sha256 hashes of the request, breaker keys hash
the endpoint URL, cached values hold only the answer (as the caller chose to cache it), and
API keys never reach Redis. Importing this package imports neither redis-py nor
pybreaker; redis-py is needed only when a client is built with a Redis URL.
"""

from __future__ import annotations

from .state import LocalState, RedisState, StateBackend, flush, open_shared_state

__all__ = ["LocalState", "RedisState", "StateBackend", "flush", "open_shared_state"]
