"""redis-py clients for each kind of Redis deployment a URL names (see :mod:`.redis_url`).

:func:`clients_for` returns the sync client (used by the sync client and the background
threads) and a factory of ``redis.asyncio`` clients (one per event loop, for the async
client), all with the bounded options of :func:`.redis_backend.client_options`; building
them makes no connection:

* a single server (``redis://``, ``rediss://``, ``unix://``): ``Redis.from_url``;
* Sentinel (``redis+sentinel://host:port,host:port/service_name[/db]``): the sentinels
  are asked for the primary of ``service_name`` whenever a connection is opened; after a
  failover, commands to the old primary fail (an outage of this process: local state, at
  most one retry period), and the next connection goes to the promoted replica, with no
  restart. The URL's password is the data nodes'; the sentinels get the same one;
* Cluster (``redis+cluster://host:port,host:port``, seed nodes): ``RedisCluster``, built
  on first use (its constructor asks the seeds for the slot map). Every key group a Lua
  script or a multi-key command touches carries a hash tag (``{budget}``,
  ``{breaker:...}``), so each touches one slot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .redis_url import RedisTarget


def clients_for(target: RedisTarget, redis: Any) -> tuple[Any, Callable[[], Any]]:
    import redis.asyncio as aredis

    from .redis_backend import client_options

    if target.kind in ("single", "unix"):
        sync = redis.Redis.from_url(target.url, **client_options(redis.Redis))

        def make_async() -> Any:
            return aredis.Redis.from_url(target.url, **client_options(aredis.Redis))

        return sync, make_async
    auth = {"username": target.username, "password": target.password}
    if target.kind == "sentinel":
        from redis.asyncio.sentinel import Sentinel as AsyncSentinel
        from redis.sentinel import Sentinel

        def primary(cls: Any, client_cls: Any) -> Any:
            options = client_options(client_cls)
            sentinel_options = {
                k: options[k] for k in ("socket_timeout", "socket_connect_timeout")
            }
            if target.password is not None:
                sentinel_options.update(auth)
            sentinels = cls(
                list(target.hosts), sentinel_kwargs=sentinel_options, **options, **auth
            )
            extra = {"ssl": True} if target.tls else {}
            return sentinels.master_for(
                target.service, redis_class=client_cls, db=target.db, **options, **auth, **extra
            )

        return primary(Sentinel, redis.Redis), lambda: primary(AsyncSentinel, aredis.Redis)
    if target.kind == "cluster":
        from redis.asyncio.cluster import ClusterNode as AsyncNode
        from redis.asyncio.cluster import RedisCluster as AsyncCluster
        from redis.cluster import ClusterNode, RedisCluster

        def cluster(cls: Any, node: Any) -> Any:
            # the nodes' own client class decides which handshake keywords apply
            options = client_options(redis.Redis if cls is RedisCluster else aredis.Redis)
            options.pop("health_check_interval", None)
            extra = {"ssl": True} if target.tls else {}
            return cls(
                startup_nodes=[node(host, port) for host, port in target.hosts],
                **options,
                **auth,
                **extra,
            )

        return _Lazy(lambda: cluster(RedisCluster, ClusterNode)), lambda: cluster(
            AsyncCluster, AsyncNode
        )
    raise ValueError("unsupported Redis deployment")


class _Lazy:
    """A client built on first use (``RedisCluster`` connects in its constructor): until
    then nothing is sent; a failed build is tried again on the next use."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return getattr(client, name)
