"""Serving the gateway app: the HTTP server options aiohttp does not default safely.

:class:`GatewayRunner` is ``web.AppRunner`` with:

* ``handler_cancellation`` on (F6): a caller that disconnects cancels its handler at once,
  so the provider call is closed and its slots (the gateway's gate, the provider's
  bulkhead) are freed, instead of running to the end unseen.
* ``keepalive_timeout = limits.header_timeout`` (F7): aiohttp closes a connection that has
  not completed a request's headers by then (idle, or trickling its headers), and an idle
  keep-alive connection; the body has its own bound (:class:`.limits.BodyReads`).
* a connection cap (F7): past ``limits.connection_cap()`` open connections, the oldest one
  with no request in progress (half-open or idle) is closed; when every one is busy, the
  new one gets a bare 503. So a flood of half-open connections cannot use up the file
  descriptors that ``/health`` and real callers need.
* a parser-error answer that never echoes the bad request bytes (F19), and the log
  filters of :mod:`.logsafe`.

:func:`serve` runs it until SIGINT/SIGTERM (for ``sarvanom serve``); tests use
:func:`start` and ``runner.cleanup()``. Both bind ``host:port`` themselves, or serve
listening sockets bound before (a worker of :mod:`.workers` serves the ones its parent
bound). :func:`serve` runs on ``asyncio.run``'s loop, or on a loop from ``loop_factory``
(the CLI passes uvloop's): the library never installs an event-loop policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from .logsafe import install_log_filters

_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 108\r\n\r\n"
    b'{"error": {"message": "too many connections", "type": "server_error", '
    b'"param": null, "code": "gateway_overloaded"}}'
)


class _QuietHandler(RequestHandler):
    """aiohttp's protocol handler, except that a request it cannot parse is answered with
    a fixed message: its own would echo the offending line, token and all (F19)."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError):
            message = f"{status} Bad Request: the request could not be parsed"
        return super().handle_error(request, status, exc, message)


class _GatewayServer(web.Server):
    """aiohttp's server with a connection cap and :class:`_QuietHandler`."""

    cap: int
    busy: set[Any]

    def __call__(self) -> RequestHandler:
        return _QuietHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._connections) <= self.cap:
            return
        for other in self._connections:  # oldest first
            if other is not handler and other not in self.busy:
                other.force_close()
                self._connections.pop(other, None)
                return
        transport.write(_BUSY_REPLY)
        transport.close()


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` for a gateway app (see the module docstring)."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float = 30.0) -> None:
        from .app import GATEWAY

        limits = app[GATEWAY].limits
        super().__init__(
            app,
            access_log=None,  # the gateway writes its own access log
            handle_signals=False,
            shutdown_timeout=shutdown_timeout,
            handler_cancellation=True,
            keepalive_timeout=limits.header_timeout,
            lingering_time=1.0,
        )

    async def _make_server(self) -> web.Server:
        from .app import GATEWAY

        server = await super()._make_server()
        # aiohttp builds its Server inside the app; adopt it rather than copy that code
        server.__class__ = _GatewayServer
        adopted = cast(_GatewayServer, server)
        gateway = self.app[GATEWAY]
        adopted.cap = gateway.limits.connection_cap()
        adopted.busy = gateway.busy_connections
        install_log_filters()
        return server


async def start(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = 30.0,
    sockets: Sequence[socket.socket] = (),
) -> tuple[GatewayRunner, int]:
    """The app served on ``host:port`` (0: a free port), or on ``sockets`` (already bound
    and listening) when given: the runner and the bound port. Raises OSError when the
    address cannot be bound (after cleaning up)."""
    runner = GatewayRunner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    sites: list[web.BaseSite] = [web.SockSite(runner, s, backlog=BACKLOG) for s in sockets]
    if not sites:
        sites.append(web.TCPSite(runner, host, port, backlog=BACKLOG))
    try:
        for site in sites:
            await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = sockets[0].getsockname()[1] if sockets else cast(web.TCPSite, sites[0]).port
    return runner, bound


#: The listen backlog (connections the kernel queues before they are accepted).
BACKLOG = 512


def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float,
    ready: Callable[[int], None] = lambda port: None,
    sockets: Sequence[socket.socket] = (),
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully. ``ready(port)`` runs once
    the address is bound (so a banner never precedes a bind error). ``sockets``: listening
    sockets to serve instead of binding ``host:port``; ``loop_factory``: the event loop to
    run on (default: asyncio's). OSError when the address cannot be bound."""

    async def main() -> None:
        runner, bound = await start(
            app, host, port, shutdown_timeout=shutdown_timeout, sockets=sockets
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not POSIX
                loop.add_signal_handler(sig, stop.set)
        try:
            ready(bound)
            await stop.wait()
        finally:
            await runner.cleanup()

    run(main(), loop_factory)


def run(
    main: Awaitable[None], loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
) -> None:
    """``asyncio.run(main)``, on a loop from ``loop_factory`` when given (no policy is
    installed: the loop is this call's own)."""
    if loop_factory is None:
        asyncio.run(main)  # type: ignore[arg-type]
        return
    runner_class = getattr(asyncio, "Runner", None)
    if runner_class is not None:  # Python 3.11+
        with runner_class(loop_factory=loop_factory) as runner:
            runner.run(main)
        return
    loop = loop_factory()  # Python 3.10: what asyncio.Runner does, in short
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
