"""redis-py clients for each kind of Redis deployment a URL names (see :mod:`.redis_url`).

:func:`clients_for` returns the sync client (used by the sync client and the background
threads) and a factory of ``redis.asyncio`` clients (one per event loop, for the async
client), both with the bounded options of :func:`.redis_backend.client_options`:

* a single server (``redis://``, ``rediss://``, ``unix://``): ``Redis.from_url``;
* Sentinel (``redis+sentinel://``): the sentinels are asked for the primary of the
  service; after a failover the next connection goes to the promoted replica, with no
  restart (a command to the old primary fails: an outage of at most the retry period);
* Cluster (``redis+cluster://``): ``RedisCluster`` from the seed nodes; every key group a
  Lua script touches carries a hash tag (one slot).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .redis_url import RedisTarget


def clients_for(target: RedisTarget, redis: Any) -> tuple[Any, Callable[[], Any]]:
    from .redis_backend import client_options

    if target.kind in ("single", "unix"):
        sync = redis.Redis.from_url(target.url, **client_options(redis.Redis))

        def make_async() -> Any:
            import redis.asyncio as aredis

            return aredis.Redis.from_url(target.url, **client_options(aredis.Redis))

        return sync, make_async
    raise ValueError("unsupported Redis deployment")
