"""The gateway application: one :class:`~sarvanom_sdk.AsyncSarvanClient` served over HTTP.

:func:`create_app` builds the ``aiohttp.web`` application. Endpoints:

* ``GET /health``: liveness, ``{"status": "ok"}``; never needs the token.
* ``GET /health/gpu-providers[?probe=true]``: the seed's health JSON, exactly (the
  seed's keys of ``client.health_report()``); ``probe=true`` first calls every provider's
  health endpoint — one fan-out at a time, taking a gate slot, and its result serves every
  probe request for ``limits.probe_ttl`` seconds (F14).
* ``POST /api/query``: the seed's query endpoint. The body holds LLMRequest fields
  (``prompt`` or ``messages``, ``system``, ``max_tokens``, ``temperature``, ``provider``,
  ``model``, ``cache``, ``timeout``...); the answer is ``LLMResponse.to_dict()``, 200 even
  for the stub's answer (``"success": false``) — unless the client is strict, then 503.
* ``POST /v1/chat/completions``, ``GET /v1/models[/{model}]``: OpenAI's wire format
  (:mod:`.openai_compat`).
* ``POST /v1/messages[/count_tokens]``: Anthropic's wire format, its error shape, the token
  also taken from ``x-api-key`` (:mod:`.anthropic_compat`).
* ``GET /metrics``: Prometheus text (:mod:`.metrics`); 501 without prometheus-client.
* ``GET /dashboard``, ``GET /dashboard/state.json``: the live dashboard (:mod:`.dashboard`);
  its static page is public, its JSON needs the token.

Every request must name this gateway in ``Host`` and come from no foreign ``Origin``
(:mod:`.access`, F3); every endpoint but ``/health`` needs ``Authorization: Bearer <token>``
when a token is set. Per-request overrides follow the :class:`.callers.CallerPolicy` (F5).
Every error has OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
``X-Request-ID`` (printable ASCII, at most 128 characters; otherwise a new one is made)
becomes the request's trace id in the SDK and is echoed on every response. Answers carry
``x-sarvanom-provider``, ``x-sarvanom-model``, ``x-sarvanom-cache`` (hit, stale, miss) and
``x-sarvanom-overhead-ms`` (:mod:`.overhead`). Only deterministic answers are cached unless
the caller says otherwise (:func:`.callers.decide_cache`, D1); a strict 503 carries
``Retry-After`` from the breakers' reopen time (D17). One access-log line a
request goes to the ``sarvanom_sdk.gateway`` logger: method, raw path (control characters
escaped, F13), status, time, trace id, provider — never a header value, a key, a token or
a prompt. A caller that left before its answer is logged with status 499. On shutdown body
reads in progress end at once (503); on cleanup the app detaches its metrics and closes the
client it serves. Serve it with :mod:`.server` (``sarvanom serve`` does), which sets the
HTTP server's timeouts and caps.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

from aiohttp import web

from ..chain import active_chain
from ..client import AsyncSarvanClient, AsyncStream
from ..errors import (
    AllProvidersFailed,
    ConfigurationError,
    ContentFiltered,
    InvalidRequestError,
)
from ..settings import Settings
from ..telemetry import continued_trace
from ..types import LLMRequest, LLMResponse, ProviderName, StreamChunk
from . import anthropic_compat, embeddings, failover, openai_compat
from .access import Access, is_preflight
from .callers import CallerPolicy, decide_cache
from .dashboard import PUBLIC_PATHS as DASHBOARD_PATHS
from .dashboard import install_dashboard
from .ids import new_id
from .limits import (
    BodyReads,
    GatewayError,
    InFlightGate,
    Limits,
    admit_request,
    read_json,
    reopen_in,
)
from .logsafe import shown
from .metrics import INSTALL_HINT, GatewayMetrics, load_metrics
from .overhead import HEADER as OVERHEAD_HEADER
from .overhead import OverheadMeter
from .tokens import TokenGuard, bearer, presented_authorization

logger = logging.getLogger("sarvanom_sdk.gateway")

REQUEST_ID = "X-Request-ID"
#: The request's trace id, stored on the request (aiohttp < 3.13 has no RequestKey).
TRACE_ID: Any = (
    web.RequestKey("sarvanom_trace_id", str) if hasattr(web, "RequestKey") else "sarvanom_trace_id"
)
#: When the request's headers arrived (time.perf_counter()).
STARTED: Any = (
    web.RequestKey("sarvanom_started", float) if hasattr(web, "RequestKey") else "sarvanom_started"
)
#: CORS headers due on this request's answer (an allowed cross-origin caller).
CORS: Any = web.RequestKey("sarvanom_cors", dict) if hasattr(web, "RequestKey") else "sarvanom_cors"
_VALID_TRACE_ID = re.compile(r"[\x21-\x7e]{1,128}\Z")
_QUERY_FIELDS = frozenset(f.name for f in fields(LLMRequest)) - {"trace_id"}
_PUBLIC_PATHS = frozenset({"/health", *DASHBOARD_PATHS})  # the dashboard shell has no data
#: The seed's health JSON, exactly: extra keys of ``health_report()`` are left out.
SEED_HEALTH_KEYS = ("status", "timestamp", "gpu_providers")


class OpenedStream:
    """A streamed answer whose first chunk has arrived (see :meth:`Gateway.stream`)."""

    def __init__(
        self, stream: AsyncStream, first: StreamChunk | None, rest: AsyncIterator[StreamChunk]
    ) -> None:
        self._stream = stream
        self._first = first
        self._rest = rest

    @property
    def provider(self) -> ProviderName:
        """The provider answering (known from the first chunk)."""
        if self._first is not None and self._first.provider is not None:
            return self._first.provider
        response = self._stream.response
        return response.provider if response is not None else ProviderName.LOCAL_STUB

    async def chunks(self) -> AsyncIterator[StreamChunk]:
        """Every chunk, the first included; raises StreamInterrupted if the answer breaks."""
        if self._first is not None:
            yield self._first
        async for chunk in self._rest:
            yield chunk

    @property
    def response(self) -> LLMResponse | None:
        """The final response, once :meth:`chunks` is exhausted."""
        return self._stream.response


class Gateway:
    """What one app serves with: the client, the limits, the token, the metrics."""

    def __init__(
        self,
        client: AsyncSarvanClient,
        limits: Limits,
        token: str | None,
        metrics: GatewayMetrics | None,
        access: Access | None = None,
        callers: CallerPolicy | None = None,
    ) -> None:
        self.client = client
        self.limits = limits
        self.gate = InFlightGate(limits)
        self.metrics = metrics
        self.access = access or Access()
        self.callers = callers or CallerPolicy()
        self.reads = BodyReads()
        #: connections (aiohttp protocol handlers) with a request in progress
        self.busy_connections: set[Any] = set()
        self.started = int(time.time())
        #: Called with every answer returned (the dashboard's recorder).
        self.response_observers: list[Callable[[LLMResponse], None]] = []
        self._token = None if token is None else token.encode()
        self._probe: asyncio.Future[None] | None = None
        self._probed_at = 0.0
        self.overhead = OverheadMeter()

    def authorized(self, header: str | None) -> bool | None:
        """True: the header carries the token (or none is needed); False: a wrong token;
        None: no bearer token given."""
        if self._token is None:
            return True
        value = bearer(header)
        if value is None:
            return None
        return hmac.compare_digest(value.encode("utf-8", "surrogateescape"), self._token)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """The client's answer (metrics noted); 503 for a strict client no provider
        answered."""
        try:
            response = await self.client.complete(request)
        except AllProvidersFailed as error:
            raise await self.no_provider(error) from None
        except ContentFiltered as error:
            raise failover.refused(error) from None
        self.observe(response)
        failover.check_answer(response)  # context length on every provider: 400
        return response

    async def no_provider(self, error: AllProvidersFailed) -> GatewayError:
        """503 with ``Retry-After`` from the breakers' reopen time when known (D17); 400
        when every provider found the request too long (:mod:`.failover`)."""
        exhausted = failover.context_exhausted(error.attempts)
        if exhausted is not None:
            return exhausted
        health = await self.client.get_provider_health()
        wait = reopen_in(error.attempts, health, self.client.router.clock.wall())
        return GatewayError.no_provider(error, wait)

    @asynccontextmanager
    async def stream(self, request: LLMRequest) -> AsyncIterator[OpenedStream]:
        """The answer as a stream whose first chunk is already in, so a request no provider
        can answer is refused (503, strict client; 400 for a content filter or a context
        length no provider has: :mod:`.failover`) before a byte is sent. Leaving the block
        closes the provider connection; a finished answer is noted in the metrics."""
        stream = self.client.stream(request)
        async with stream:
            rest = aiter(stream)
            try:
                try:
                    first = await anext(rest, None)
                except AllProvidersFailed as error:
                    raise await self.no_provider(error) from None
                except ContentFiltered as error:
                    raise failover.refused(error) from None
                if first is not None and first.provider is ProviderName.LOCAL_STUB:
                    rest = await failover.settled(rest, lambda: stream.response)
                yield OpenedStream(stream, first, rest)
            finally:
                aclose = getattr(rest, "aclose", None)  # an async generator: close it now
                if aclose is not None:
                    await aclose()
            if stream.response is not None:
                self.observe(stream.response)

    async def probe(self) -> None:
        """Call every provider's health endpoint, at most once per ``limits.probe_ttl``
        seconds and one fan-out at a time, in a gate slot: concurrent and repeated probe
        requests share one fan-out (F14). A failed fan-out is not reused."""
        task = self._probe
        fresh = time.monotonic() - self._probed_at < self.limits.probe_ttl
        if task is None or (task.done() and (not fresh or _failed(task))):
            task = self._probe = asyncio.ensure_future(self._fan_out())
        await asyncio.shield(task)

    async def _fan_out(self) -> None:
        try:
            async with self.gate.slot():
                await self.client.get_provider_health(probe=True)
        finally:
            self._probed_at = time.monotonic()

    async def close(self) -> None:
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
        await self.client.close()

    def observe(self, response: LLMResponse) -> None:
        if self.metrics is not None:
            self.metrics.observe_response(response)
        for observer in self.response_observers:
            observer(response)

    def overhead_headers(self, request: web.Request) -> dict[str, str]:
        """``x-sarvanom-overhead-ms`` for the answer starting now (and the metric)."""
        elapsed_ms = (time.perf_counter() - request[STARTED]) * 1000.0
        ms = self.overhead.overhead_ms(request[TRACE_ID], elapsed_ms)
        if self.metrics is not None:
            self.metrics.observe_overhead(_endpoint(request), ms / 1000.0)
        return {OVERHEAD_HEADER: f"{ms:.3f}"}

    def streaming_model(self, provider: ProviderName, request: LLMRequest) -> str | None:
        """The model a stream from ``provider`` is answered by, known when it opens: the
        request's override, else the provider's configured model (None for the stub)."""
        adapter = self.client.router.adapters.get(provider)
        if adapter is None:
            return None
        return request.model or adapter.default_model or None

    @staticmethod
    def answer_headers(
        provider: ProviderName, response: LLMResponse | None = None, model: str | None = None
    ) -> dict[str, str]:
        """``x-sarvanom-provider``; ``x-sarvanom-model`` (the response's model, else
        ``model``; only when it is a safe header value); and, when the response is known,
        ``x-sarvanom-cache``."""
        headers = {"x-sarvanom-provider": provider.value}
        if response is not None:
            cache = "stale" if response.stale else "hit" if response.cached else "miss"
            headers["x-sarvanom-cache"] = cache
            model = response.model or model
        if model and len(model) <= 200 and model.isascii() and model.isprintable():
            headers["x-sarvanom-model"] = model
        return headers


def _failed(task: asyncio.Future[None]) -> bool:
    return task.cancelled() or task.exception() is not None


GATEWAY = web.AppKey("sarvanom_gateway", Gateway)
TOKENS = web.AppKey("sarvanom_gateway_tokens", TokenGuard)
GatewayHandler = Callable[[web.Request, Gateway, str], Awaitable[web.StreamResponse]]


def create_app(
    client: AsyncSarvanClient | None = None,
    *,
    settings: Settings | None = None,
    token: str | None = None,
    limits: Limits | None = None,
    access: Access | None = None,
    callers: CallerPolicy | None = None,
    tokens: TokenGuard | None = None,
) -> web.Application:
    """The gateway app serving ``client`` (default: a new client from ``settings``, or
    from the environment when both are None).

    ``token``: the bearer token every endpoint but ``/health`` requires; None means no
    authentication (the caller decides, e.g. ``sarvanom serve`` reads
    ``SARVANOM_GATEWAY_TOKEN``). ``limits``: :class:`Limits` (defaults: 1 MiB bodies,
    256 in flight). ``access``: the Host and CORS allow-lists (:class:`.access.Access`);
    ``callers``: which per-request overrides callers may use
    (:class:`.callers.CallerPolicy`); ``tokens``: several tokens with their own limits
    (:class:`.tokens.TokenGuard`; ``token`` then joins them as ``default``). The app closes
    the client when it is cleaned up.
    """
    if client is not None and settings is not None:
        raise ConfigurationError("settings", "give a client or settings, not both")
    if token is not None and not token.strip():
        raise ConfigurationError("token", "must not be empty (None disables authentication)")
    limits = limits or Limits()
    client = client or AsyncSarvanClient(settings)
    metrics = load_metrics(p.value for p in active_chain(client.settings))
    gateway = Gateway(client, limits, token, metrics, access, callers)
    app = web.Application(
        middlewares=[_serve],
        client_max_size=limits.max_body_bytes,
    )
    app[GATEWAY] = gateway
    app.on_response_prepare.append(_stamp_headers)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    app.router.add_get("/health", _health)
    routes = (*_ROUTES, *openai_compat.ROUTES, *anthropic_compat.ROUTES, *embeddings.ROUTES)
    for method, path, handler in routes:
        app.router.add_route(method, path, _bind(handler))
    if metrics is not None:
        client.router.observers.append(metrics.observe_attempt)
    client.router.observers.append(gateway.overhead.observe_attempt)
    install_dashboard(app, gateway, token)
    if tokens is not None:
        tokens.install(app, gateway, token)
    return app


def _bind(handler: GatewayHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of a gateway handler. :func:`_serve` calls the gateway handler
    straight when nothing sits between them (:func:`_call`): one coroutine frame less per
    request (issue 18)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await handler(request, request.app[GATEWAY], request[TRACE_ID])

    handle.gateway_handler = handler  # type: ignore[attr-defined]
    return handle


def _call(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    gateway: Gateway,
) -> Awaitable[web.StreamResponse]:
    """``handler(request)``; a :func:`_bind` handler given to the middleware as is (no
    other middleware added after it) has its gateway handler called straight."""
    if handler is request.match_info.handler:
        inner = getattr(handler, "gateway_handler", None)
        if inner is not None:
            return inner(request, gateway, request[TRACE_ID])  # type: ignore[no-any-return]
    return handler(request)


# -- the middleware and signals --------------------------------------------------------------
@web.middleware
async def _serve(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every request's bookkeeping, in one middleware (one coroutine frame per request
    instead of four, issue 18), in this order: trace id in; Host and Origin checked (F3,
    :func:`_guard`), then the token (:func:`_refuse_unless`), then the handler; a refusal
    on ``/v1/messages`` paths in Anthropic's shape (:func:`.anthropic_compat.refused_response`),
    elsewhere in OpenAI's; access log and HTTP metrics out. A caller that left (its
    handler cancelled, or the connection lost while writing) is logged with status 499,
    never as an error (F6)."""
    started = request[STARTED] = time.perf_counter()
    given = request.headers.get(REQUEST_ID)
    trace_id = request[TRACE_ID] = given if given and _VALID_TRACE_ID.match(given) else new_id()
    gateway = request.app[GATEWAY]
    busy = gateway.busy_connections
    busy.add(request.protocol)
    gateway.overhead.watch(trace_id)
    try:
        try:
            if "traceparent" in request.headers:  # else continued_trace would do nothing
                with continued_trace(request.headers):
                    response = await _admitted(request, handler, gateway)
            else:
                response = await _admitted(request, handler, gateway)
        except ConnectionError:
            raise
        except Exception as error:
            if not anthropic_compat.is_ours(request.path):
                raise
            response = anthropic_compat.refused_response(request, error)
    except GatewayError as error:
        response = error_response(error)
    except InvalidRequestError as error:  # the SDK refused the request after the gateway
        response = error_response(GatewayError.invalid(error))
    except web.HTTPException as exc:  # aiohttp's own: no route, wrong method...
        response = error_response(_from_http(request, exc))
    except (asyncio.CancelledError, ConnectionError):
        _account(request, None, time.perf_counter() - started)
        raise
    except Exception:
        logger.exception(
            "unhandled error on %s %s",
            request.method,
            shown(request.raw_path),
            extra={"trace_id": trace_id},
        )
        response = error_response(
            GatewayError(500, f"internal error (request id {trace_id})", code="internal_error")
        )
    finally:
        gateway.overhead.forget(trace_id)
        busy.discard(request.protocol)
    _account(request, response, time.perf_counter() - started)
    return response


def _admitted(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    gateway: Gateway,
) -> Awaitable[web.StreamResponse]:
    """The handler's answer once the request passed the Host and Origin checks (F3) and
    then the token; a CORS preflight from an allowed origin is answered here. Returns the
    awaitable (no coroutine frame of its own unless a token guard must be awaited)."""
    preflight = _guard(request, gateway.access)
    if preflight is not None:
        return _ready(preflight)
    if request.path in _PUBLIC_PATHS:
        return _call(request, handler, gateway)
    guard = request.app.get(TOKENS)
    if guard is not None:
        return _admitted_by(guard, request, handler, gateway)
    _refuse_unless(gateway.authorized(presented_authorization(request.headers)))
    return _call(request, handler, gateway)


async def _ready(response: web.StreamResponse) -> web.StreamResponse:
    return response


async def _admitted_by(
    guard: TokenGuard,
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    gateway: Gateway,
) -> web.StreamResponse:
    _refuse_unless(await guard.admit(request))
    return await _call(request, handler, gateway)


def _guard(request: web.Request, access: Access) -> web.Response | None:
    """Host and Origin (F3), before authentication: with or without a token, a web page
    the operator visits cannot drive or read the gateway. Returns the answer to an
    allowed origin's CORS preflight; notes the CORS headers due on an allowed
    cross-origin request's answer."""
    transport = request.transport
    local = transport.get_extra_info("sockname") if transport is not None else None
    bound = (str(local[0]), int(local[1])) if isinstance(local, tuple) else None
    headers = request.headers
    host = headers.get("Host")
    access.check_host(host, bound)
    origin = headers.get("Origin")
    cross = access.check_origin(origin, host)
    if cross and origin is not None:
        if is_preflight(request.method, headers):
            preflight = access.preflight_headers(
                origin, headers.get("Access-Control-Request-Headers")
            )
            return web.Response(status=204, headers=preflight)
        request[CORS] = access.cors_headers(origin)
    return None


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sarvanom"'}


def _refuse_unless(verdict: bool | None) -> None:
    """401 unless ``verdict`` (see :meth:`Gateway.authorized`) is True."""
    if verdict:
        return
    if verdict is None:
        raise GatewayError(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            code="missing_token",
            headers=_CHALLENGE,
        )
    raise GatewayError(401, "invalid bearer token", code="invalid_api_key", headers=_CHALLENGE)


async def _stamp_headers(request: web.Request, response: web.StreamResponse) -> None:
    trace_id = request.get(TRACE_ID)
    if trace_id is not None:
        response.headers[REQUEST_ID] = trace_id
    cors = request.get(CORS)
    if cors:
        response.headers.update(cors)


async def _shutdown(app: web.Application) -> None:
    app[GATEWAY].reads.cut()  # trickling uploads do not hold the shutdown (F7)


async def _cleanup(app: web.Application) -> None:
    gateway = app[GATEWAY]
    observers = gateway.client.router.observers
    mine = [gateway.overhead.observe_attempt]
    if gateway.metrics is not None:
        mine.append(gateway.metrics.observe_attempt)
    for observer in mine:
        if observer in observers:
            observers.remove(observer)
    await gateway.close()


def error_response(error: GatewayError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers)


def _from_http(request: web.Request, exc: web.HTTPException) -> GatewayError:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
    message = f"{exc.reason}: {request.method} {shown(request.raw_path)}"
    return GatewayError(
        exc.status,
        message,
        code=codes.get(exc.status, f"http_{exc.status}"),
        headers={k: v for k, v in exc.headers.items() if k == "Allow"},
    )


#: The access log's status for a caller that left before its answer (nginx's).
CLIENT_CLOSED = 499


def _account(request: web.Request, response: web.StreamResponse | None, seconds: float) -> None:
    """One access-log line and the HTTP metrics; ``response`` None: the caller left."""
    gateway = request.app[GATEWAY]
    status = CLIENT_CLOSED if response is None else response.status
    if gateway.metrics is not None:
        gateway.metrics.observe_http(_endpoint(request), status, seconds)
    if logger.isEnabledFor(logging.INFO):
        provider = "-" if response is None else response.headers.get("x-sarvanom-provider", "-")
        path = shown(request.raw_path)
        ms = seconds * 1000
        logger.info(
            "%s %s %d %.1fms %s %s",
            request.method,
            path,
            status,
            ms,
            request[TRACE_ID],
            provider,
            extra={
                "http_method": request.method,
                "path": path,
                "status": status,
                "duration_ms": round(ms, 3),
                "trace_id": request[TRACE_ID],
                "provider": provider,
                "remote": request.remote,
            },
        )


def _endpoint(request: web.Request) -> str:
    """The route's canonical path (a bounded metric label)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# -- handlers -------------------------------------------------------------------------------
async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _provider_health(request: web.Request, gateway: Gateway, trace_id: str) -> web.Response:
    if request.query.get("probe", "").lower() in ("1", "true", "yes"):
        await gateway.probe()
    report = gateway.client.health_report()
    return web.json_response({key: report[key] for key in SEED_HEALTH_KEYS})


async def _query(request: web.Request, gateway: Gateway, trace_id: str) -> web.Response:
    body = await read_json(request, gateway.limits, gateway.reads)
    fields = gateway.callers.apply(query_fields(body, gateway.client.settings.total_timeout))
    del body  # not kept alive while the answer is awaited (issue 18 goal 5)
    fields = decide_cache(fields, request.headers.get("Cache-Control"))
    llm_request = admit_request({**fields, "trace_id": trace_id}, gateway.limits)
    async with gateway.gate.slot():
        response = await gateway.complete(llm_request)
    headers = {
        **gateway.answer_headers(response.provider, response),
        **gateway.overhead_headers(request),
    }
    return web.json_response(response.to_dict(), headers=headers)


def query_fields(body: Mapping[str, Any], max_timeout: float) -> dict[str, Any]:
    """``/api/query``'s body as LLMRequest keyword arguments: unknown names refused, null
    meaning absent, ``cache`` a boolean, ``timeout`` no longer than the client's deadline."""
    unknown = sorted(set(body) - _QUERY_FIELDS)
    if unknown:
        raise GatewayError.bad_request(
            unknown[0], f"{unknown[0]}: unknown field; allowed: {', '.join(sorted(_QUERY_FIELDS))}"
        )
    fields = {k: v for k, v in body.items() if v is not None}
    if "cache" in fields and not isinstance(fields["cache"], bool):
        raise GatewayError.bad_request("cache", "cache: must be true or false")
    timeout = fields.get("timeout")
    if (
        isinstance(timeout, (int, float))
        and not isinstance(timeout, bool)
        and timeout > max_timeout
    ):
        raise GatewayError.bad_request(
            "timeout", f"timeout: must be at most {max_timeout:g} seconds here"
        )
    return fields


async def _metrics(request: web.Request, gateway: Gateway, trace_id: str) -> web.Response:
    if gateway.metrics is None:
        raise GatewayError(501, INSTALL_HINT, code="metrics_unavailable")
    health = await gateway.client.get_provider_health()
    body = gateway.metrics.render(
        health, gateway.gate.in_flight, gateway.gate.waiting, gateway.client.router.hedges
    )
    return web.Response(body=body, headers={"Content-Type": gateway.metrics.content_type})


_ROUTES: tuple[tuple[str, str, GatewayHandler], ...] = (
    ("GET", "/health/gpu-providers", _provider_health),
    ("POST", "/api/query", _query),
    ("GET", "/metrics", _metrics),
)
