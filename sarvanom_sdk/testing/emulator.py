"""``ProviderEmulator``: one loopback HTTP server speaking every provider's wire protocol.

Point an app (or the SDK) at it instead of the real providers and test offline: it answers
OpenAI, Anthropic, Ollama, Hugging Face (router and task API) and the seed's remote-GPU
protocol, streams where the protocol streams, records every request, and injects faults
(refused connections, hangs, slow bodies, provider error bodies, cut streams...) on the
requests you choose. The happy path does no sleeping and little work, so benchmarks can use
it as their baseline target.

Example::

    import openai
    from sarvanom_sdk.testing import Fault, ProviderEmulator

    with ProviderEmulator(api_keys={"openai": "sk-test"}) as emu:
        client = openai.OpenAI(base_url=emu.url_for("openai"), api_key="sk-test",
                               max_retries=0)
        emu.inject("openai", Fault.http(503, retry_after=1), times=1)
        try:
            client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "hi"}])
        except openai.InternalServerError:
            pass                                    # request 1: the injected 503
        reply = client.chat.completions.create(     # request 2: a normal answer
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "Emulated openai answer to: hi"
        assert emu.request_count("openai") == 2
        assert emu.requests("openai")[0].fault == Fault.http(503, retry_after=1)

Three ways to run it: ``with ProviderEmulator() as emu`` (its own event loop in a daemon
thread; also ``start()``/``stop()``), ``async with ProviderEmulator() as emu`` (on the
running loop; also ``astart()``/``astop()``), or the pytest fixture ``provider_emulator``
(see ``sarvanom_sdk.testing.pytest_plugin``).

Providers and ``url_for(provider)`` (the base URL to configure in the client or env var):
``ollama``/``ollama_local`` -> ``/ollama``; ``remote_gpu`` -> ``/remote_gpu``;
``remote_gpu_openai`` -> ``/remote_gpu_openai``; ``huggingface`` -> ``/huggingface/v1``;
``huggingface_task`` -> ``/huggingface``; ``openai`` -> ``/openai/v1``; ``anthropic`` ->
``/anthropic``.

The chat surface (issue 14), in each protocol's documented shapes, streaming included
(OpenAI and OpenAI-compatible servers, Anthropic, Ollama; the seed's GPU box and the HF
task API have none of it). The emulated model is deterministic:

- **Tools**: a request with tools whose tool choice is not ``none`` (Ollama has no tool
  choice), and whose last message is not a tool result, gets a tool *call*: the tool the
  choice names, else the first; its arguments are a minimal valid instance of the tool's
  JSON schema (required properties only, first enum value, ``"example"``, 1, ``true``,
  arrays of one item, local ``$ref`` followed). OpenAI: ``message.tool_calls`` and
  ``finish_reason: "tool_calls"``, streamed as ``delta.tool_calls`` by index (id and name
  first, arguments in pieces); Anthropic: a ``tool_use`` block and ``stop_reason:
  "tool_use"``, streamed as ``content_block_start`` + ``input_json_delta`` pieces;
  Ollama: ``message.tool_calls`` with arguments as an object, whole in one line.
- **Tool results** (OpenAI/Ollama ``role: "tool"``, Anthropic ``tool_result`` blocks)
  ending the conversation are answered ``"The tool said: <result>"``.
- **Structured output**: ``response_format`` ``json_schema`` (Ollama ``format: <schema>``)
  answers a minimal valid instance of the schema as the text, streamed in pieces;
  ``json_object`` (Ollama ``format: "json"``) answers ``{"answer": <text>}``. Anthropic
  has no response format: a forced tool is the tools rule.
- **Images** (OpenAI ``image_url`` parts with https or ``data:image/...;base64`` URLs,
  Anthropic ``image`` blocks with base64 or url sources, Ollama ``images``) are counted:
  the answer ends ``"I see 1 image."`` / ``"I see 2 images."``. A malformed one gets the
  provider's 400 (OpenAI's ``param``/``code``, Anthropic's ``invalid_request_error`` naming
  the field, Ollama's ``illegal base64 data at input byte N``).
- **stop** (Anthropic ``stop_sequences``, Ollama ``options.stop``) cuts the answer before
  the earliest stop sequence in it (``finish_reason: "stop"``; Anthropic
  ``stop_reason: "stop_sequence"``). ``seed``, ``top_p`` and penalties are accepted.
- ``reply_text``, when given, is the text of every text answer (the structured, tool-result
  and image answers above included: make a provider answer invalid JSON that way); tool
  calls are still made.
- What arrived is in :meth:`ProviderEmulator.requests` (``RecordedRequest.json``; raise
  ``max_record_body`` for bodies with big images).

Auth: OpenAI, Hugging Face and Anthropic requests must carry a key (``Authorization:
Bearer ...``; Anthropic ``x-api-key`` and ``anthropic-version``), as the real APIs demand;
any key passes unless ``api_keys`` pins one for that provider, and then a wrong key gets the
provider's 401. Providers without auth check it only when ``api_keys`` names them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from ._answer import AnswerSettings, ReplyText
from ._catalog import build_protocols, canonical
from ._delivery import shape, write
from ._protocol import Incoming, Protocol, Route
from ._records import RecordedRequest, RequestLog
from ._threaded import LoopThread
from .faults import Endpoint, Fault, FaultPlan, FaultRule

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest request body the emulator reads (aiohttp answers 413 past it)."""
MAX_RECORDS = 1_000
"""How many recent requests are recorded by default."""
MAX_RECORD_BODY = 8 * 1024
"""How many bytes of each recorded request's body are kept by default."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProviderEmulator:
    """A loopback server emulating the SDK's providers; see the module docstring.

    :param host: interface to listen on (loopback by default).
    :param port: TCP port; 0 picks a free one (see :attr:`port`).
    :param reply_text: the answer text for every request, or a callable
        ``(provider, prompt) -> str``; default ``"Emulated <provider> answer to: <prompt
        [:40]>"``.
    :param latency: seconds to wait before every answer (none by default).
    :param stream_chunks: how many content events a streamed answer is split into.
    :param api_keys: provider -> the only key it accepts.
    :param max_records: how many recent requests :meth:`requests` keeps (``None``: all);
        counts are exact regardless.
    :param max_record_body: how many bytes of each recorded body are kept (``None``: all).
        A longer body is recorded cut (``RecordedRequest.truncated``) and without ``json``.
    :param max_request_bytes: the largest request body read at all (413 past it).
    :param shutdown_timeout: seconds ``stop`` gives in-flight handlers before cancelling.
    :param clock: seconds, for ``inject(during=...)`` and :meth:`flap` schedules
        (``time.monotonic`` by default; pass a fake clock's ``monotonic`` to drive them).

    Memory is bounded by default (security review F20): at most ``max_records`` requests of
    at most ``max_record_body`` body bytes each are kept, whatever the traffic. Tests that
    inspect big bodies raise ``max_record_body``; ``None`` for both keeps everything.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reply_text: ReplyText = None,
        latency: float = 0.0,
        stream_chunks: int = 4,
        api_keys: Mapping[str, str] | None = None,
        max_records: int | None = MAX_RECORDS,
        max_record_body: int | None = MAX_RECORD_BODY,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        shutdown_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        if latency < 0 or shutdown_timeout < 0:
            raise ValueError("latency and shutdown_timeout must not be negative")
        if stream_chunks < 1:
            raise ValueError("stream_chunks must be at least 1")
        for name, limit in (("max_records", max_records), ("max_record_body", max_record_body)):
            if limit is not None and limit < 0:
                raise ValueError(f"{name} must not be negative")
        if max_request_bytes < 1:
            raise ValueError("max_request_bytes must be at least 1")
        self.host = host
        self._requested_port = port
        self._latency = float(latency)
        self._settings = AnswerSettings(reply_text=reply_text, stream_chunks=stream_chunks)
        self._keys = {canonical(name): key for name, key in (api_keys or {}).items()}
        self._shutdown_timeout = shutdown_timeout
        self._protocols = build_protocols()
        self._plan = FaultPlan()
        self._log = RequestLog(max_records)
        self._clock = clock
        self._max_record_body = max_record_body
        self._max_request_bytes = max_request_bytes
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: LoopThread | None = None
        self._dead_socket: socket.socket | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def astart(self) -> ProviderEmulator:
        """Start serving on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        runner = web.AppRunner(
            self._app(),
            access_log=None,
            handler_cancellation=True,  # a client that gives up frees its hanging handler
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._stopping = asyncio.Event()
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        return self

    async def astop(self) -> None:
        """Stop serving: drop hanging and slow requests at once, then close everything.
        Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        assert self._stopping is not None
        self._stopping.set()
        try:
            await runner.cleanup()
        finally:
            with self._lock:
                dead, self._dead_socket = self._dead_socket, None
            if dead is not None:
                dead.close()

    def start(self) -> ProviderEmulator:
        """Start serving on a private event loop in a daemon thread."""
        with self._lock:
            if self._thread is not None or self._runner is not None:
                raise RuntimeError("the emulator is already running")
            thread = self._thread = LoopThread("sarvanom-provider-emulator")
        try:
            thread.start(self.astart)
        except BaseException:
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Stop the thread started by :meth:`start`. Safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            if self._runner is not None:
                raise RuntimeError("started with astart(); stop it with astop()")
            return
        thread.stop(self.astop, timeout=self._shutdown_timeout + 5.0)

    def __enter__(self) -> ProviderEmulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ProviderEmulator:
        return await self.astart()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        """The port the emulator listens on (known once started)."""
        if self._port is None or self._runner is None:
            raise RuntimeError("the emulator is not running; start it first")
        return self._port

    @property
    def root(self) -> str:
        """``http://host:port`` of the running emulator, as a client reaches it (a wildcard
        bind is reached over loopback; see :attr:`bound` for what is really listening)."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def bound(self) -> list[str]:
        """``http://address:port`` of every socket really listening (``0.0.0.0`` or ``[::]``
        for a wildcard bind: every interface)."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running; start it first")
        return [_address_url(address) for address in self._runner.addresses]

    def url_for(self, provider: str) -> str:
        """The base URL to give a client (or the SDK's env var) for ``provider``."""
        return self.root + self._protocol(provider).base_path

    def refused_url(self, provider: str) -> str:
        """A base URL shaped like ``url_for(provider)`` on a port where nothing listens, so
        connecting is refused. The port stays reserved until the emulator stops."""
        base = self._protocol(provider).base_path
        host = _url_host(self.host)
        if not self.running:
            raise RuntimeError("the emulator is not running; start it first")
        with self._lock:
            if self._dead_socket is None:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                dead = socket.socket(family, socket.SOCK_STREAM)
                dead.bind((host.strip("[]"), 0))
                self._dead_socket = dead
            port = self._dead_socket.getsockname()[1]
        return f"http://{host}:{port}{base}"

    # -- observability -----------------------------------------------------------------

    def request_count(self, provider: str | None = None, *, endpoint: Endpoint = "any") -> int:
        """Requests received since the last :meth:`reset`, for one provider or all."""
        name = None if provider is None else canonical(provider)
        return self._log.count(name, endpoint)

    def requests(self, provider: str | None = None) -> list[RecordedRequest]:
        """The recorded requests (the most recent ``max_records``), oldest first."""
        return self._log.records(None if provider is None else canonical(provider))

    def reset(self) -> None:
        """Forget recorded requests and restart request numbers at 1 (rules stay)."""
        self._log.reset()

    # -- faults ------------------------------------------------------------------------

    def inject(
        self,
        provider: str,
        fault: Fault,
        *,
        times: int | None = None,
        on_requests: Iterable[int] | None = None,
        probability: float | None = None,
        seed: int | None = None,
        endpoint: Endpoint = "any",
        during: tuple[float, float] | None = None,
    ) -> FaultRule:
        """Make ``fault`` happen on ``provider``'s requests; see :class:`FaultRule` for how
        ``times``, ``on_requests`` (1-based), ``probability``/``seed``, ``endpoint`` and
        ``during`` (seconds after now, on the emulator's clock) combine. With none of them,
        every request faults until :meth:`clear`. Rules are tried in injection order; the
        first that fires wins. A fault the provider has no real shape for (see
        :mod:`sarvanom_sdk.testing.faults`) raises ``ValueError`` saying why."""
        name = canonical(provider)
        why = self._protocols[name].unsupported.get(fault.kind)
        if why is not None:
            raise ValueError(f"Fault.{fault.kind} does not exist on {name}: {why}")
        rule = FaultRule(
            name, fault, endpoint, times, on_requests, probability, seed, during, self._clock
        )
        self._plan.add(rule)
        return rule

    def flap(
        self,
        provider: str,
        *,
        seconds: float | None = None,
        requests: int | None = None,
        fault: Fault | None = None,
    ) -> FaultRule:
        """Take ``provider`` down now, health endpoints included, then let it recover:
        for ``seconds`` on the emulator's clock, or for its next ``requests`` requests
        (generation and probes alike). Down means ``fault`` (default: the provider's 503).
        Give exactly one of ``seconds`` and ``requests``."""
        if (seconds is None) == (requests is None):
            raise ValueError("give exactly one of seconds or requests")
        down = fault or Fault.http(503)
        if seconds is not None:
            if seconds <= 0:
                raise ValueError("seconds must be positive")
            return self.inject(provider, down, during=(0.0, seconds))
        return self.inject(provider, down, times=requests)

    def clear(self, provider: str | None = None) -> None:
        """Remove injected faults: all, or only ``provider``'s."""
        self._plan.clear(None if provider is None else canonical(provider))

    # -- serving -----------------------------------------------------------------------

    def _protocol(self, provider: str) -> Protocol:
        return self._protocols[canonical(provider)]

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=self._max_request_bytes)
        for protocol in self._protocols.values():
            for route in protocol.routes():
                path = protocol.base_path + route.path
                app.router.add_route(route.method, path, self._handler(protocol, route))
        return app

    def _handler(self, protocol: Protocol, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, protocol, route)

        return handle

    async def _serve(
        self, request: web.Request, protocol: Protocol, route: Route
    ) -> web.StreamResponse:
        """Record, pick a fault, answer. Per request: no sleeps unless configured."""
        body = await request.read()
        parsed, parsed_ok = _parse(body)
        kept = body if self._max_record_body is None else body[: self._max_record_body]
        name = protocol.name
        number, own_number = self._log.number(name, route.endpoint)
        prefill = _ends_with_assistant(parsed)
        fault = self._plan.pick(name, route.endpoint, number, own_number, prefill)
        self._log.add(
            RecordedRequest(
                name,
                number,
                route.endpoint,
                request.method,
                request.path,
                request.query,
                request.headers,
                kept,
                parsed if len(kept) == len(body) else None,
                fault,
                time.monotonic(),
                len(body),
            )
        )
        settings = self._settings
        if fault is not None and fault.kind == "oversized":
            settings = settings.oversized(fault.size)
        if _refused_in_answer(fault, protocol):
            assert fault is not None
            settings = settings.refusing(fault.stage)
        reply = protocol.check(request.headers, self._keys.get(name))
        if reply is None:
            incoming = Incoming(parsed, parsed_ok, request.match_info, request.headers)
            reply = route.build(incoming, settings)
        try:
            return await write(
                request, shape(reply, fault, protocol), fault, self._wait, self._latency
            )
        except ConnectionError:  # the client went away mid-answer
            return web.Response()

    async def _wait(self, seconds: float | None) -> bool:
        """Sleep ``seconds`` (``None``: until stop); ``False`` if stopping cut it short."""
        stopping = self._stopping
        if stopping is None or stopping.is_set():
            return False
        if seconds is None:
            await stopping.wait()
            return False
        try:
            await asyncio.wait_for(stopping.wait(), seconds)
        except asyncio.TimeoutError:
            return True
        return False


def _parse(body: bytes) -> tuple[Any, bool]:
    if not body:
        return None, False
    try:
        return json.loads(body), True
    except ValueError:
        return None, False


def _refused_in_answer(fault: Fault | None, protocol: Protocol) -> bool:
    """Whether a content filter shows in the answer itself (``finish_reason:
    "content_filter"``, ``stop_reason: "refusal"``) rather than as an HTTP error."""
    if fault is None or fault.kind != "content_filter":
        return False
    return fault.stage == "output" or protocol.content_filter_error() is None


def _ends_with_assistant(body: Any) -> bool:
    """Whether a chat request's last message is the assistant's (a prefill)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    return isinstance(last, dict) and last.get("role") == "assistant"


def _address_url(address: Any) -> str:
    """``http://host:port`` of one listening socket address (IPv4 or IPv6 tuple)."""
    host, port = str(address[0]), int(address[1])
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _url_host(host: str) -> str:
    """The host to put in URLs: wildcard binds are reached over loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
