"""``sarvanom serve``: the SDK as an HTTP gateway (see :mod:`sarvanom_sdk.gateway`).

Binds loopback by default. With a token (``SARVANOM_GATEWAY_TOKEN``, or ``--token``) every
endpoint but ``/health`` needs ``Authorization: Bearer <token>``. Binding any other address
without a token is refused unless ``--insecure-no-token`` says so explicitly. SIGTERM and
SIGINT stop it gracefully: it stops accepting, cuts uploads still arriving, gives in-flight
requests up to ``--shutdown-timeout`` seconds, then closes the client.

Whatever the token, requests must name this gateway in ``Host`` (``--allowed-host`` adds
names for a reverse proxy) and come from no foreign ``Origin`` (``--cors-origin`` allows
one); ``--caller-overrides`` and ``--min-timeout`` say what callers may choose per request;
``--header-timeout``, ``--body-timeout``, ``--write-timeout`` and ``--max-connections``
bound slow and silent connections. See :mod:`sarvanom_sdk.gateway`.

``--workers N`` (default: the number of cores) serves from N processes forked from a
supervisor that binds the address once (:mod:`sarvanom_sdk.gateway.workers`); the limits
set here are divided between them unless Redis shares them
(:mod:`sarvanom_sdk.gateway.shares`). ``--workers 1`` is a single process, no supervisor.
``--loop`` picks the event loop: asyncio, or uvloop when asked for.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``); any
    other host name may resolve to anything. (The SDK's own rule, imported on use so that
    ``sarvanom --help`` stays light.)"""
    from sarvanom_sdk.settings import is_loopback_host

    return is_loopback_host(host.strip())


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def check_address(host: str) -> None:
    """``click.ClickException`` ("invalid address") unless ``host`` is an IP address or a
    well-formed host name (D20: ``127.0.0.300`` is neither)."""
    name = host.strip()
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        ipaddress.ip_address(bare)
        return
    except ValueError:
        pass
    labels = bare.rstrip(".").split(".")
    looks_numeric = all(label.isdigit() for label in labels)
    if (
        not bare
        or ":" in bare
        or looks_numeric
        or len(bare) > 253
        or not all(_LABEL.match(label) for label in labels)
    ):
        raise click.ClickException(
            f"invalid address {host!r}: give an IP address (127.0.0.1, ::1, 0.0.0.0) or a host name"
        )


def check_bind(host: str, token: str | None, insecure_no_token: bool) -> None:
    """Refuse (``click.ClickException``: one line, exit status 1) to serve a non-loopback
    address without a token."""
    check_address(host)
    if token or insecure_no_token or is_loopback(host):
        return
    raise click.ClickException(
        f"refusing to bind {host!r} without a token: set SARVANOM_GATEWAY_TOKEN (or --token), "
        "or pass --insecure-no-token to serve it unauthenticated"
    )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--token",
    envvar="SARVANOM_GATEWAY_TOKEN",
    show_envvar=True,
    help="Bearer token required on every endpoint but /health (prefer the "
    "environment variable: a command line is visible to other users).",
)
@click.option(
    "--tokens",
    envvar="SARVANOM_GATEWAY_TOKENS",
    show_envvar=True,
    help="Several bearer tokens with their own limits: a file path (/, ./, ~) or the "
    "list itself, 'name:token:rpm=60,tpm=100000,usd=5' entries (see README). Limits are "
    "shared through SARVANOM_REDIS_URL when set, else per process.",
)
@click.option(
    "--insecure-no-token", is_flag=True, help="Allow a non-loopback address without a token."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Answer 503 instead of the local stub's text when no provider answers.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Model calls at once; more wait briefly, then get 503.",
)
@click.option("--max-body-bytes", type=click.IntRange(1024), default=1024 * 1024, show_default=True)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds in-flight requests get to finish on SIGTERM/SIGINT.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="SARVANOM_GATEWAY_ALLOWED_HOSTS",
    show_envvar=True,
    help="A Host name (or name:port) to serve besides the bound address and localhost, "
    "e.g. the name a reverse proxy forwards; comma-separated or repeated; '*' for any.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    envvar="SARVANOM_GATEWAY_CORS_ORIGINS",
    show_envvar=True,
    help="A web origin (https://app.example.com) whose pages may call the gateway; "
    "comma-separated or repeated. Default: none.",
)
@click.option(
    "--caller-overrides",
    envvar="SARVANOM_GATEWAY_CALLER_OVERRIDES",
    show_envvar=True,
    default="all",
    show_default=True,
    help="Per-request choices callers may make: 'all', 'none', or a comma-separated "
    "subset of timeout,model,provider,hedge,cache,tier,stream_recovery.",
)
@click.option(
    "--min-timeout",
    envvar="SARVANOM_GATEWAY_MIN_TIMEOUT_SECONDS",
    show_envvar=True,
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="A caller's per-request timeout below this is raised to it.",
)
@click.option(
    "--default-model",
    metavar="NAME",
    help="Answer unknown model names (e.g. an app's hard-coded gpt-4o-mini) with this "
    "sarvanom model, e.g. sarvanom/auto, instead of 404. Aliases: SARVANOM_MODEL_ALIASES.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0.01),
    default=15.0,
    show_default=True,
    help="Seconds a connection gets to send a request's headers (and to idle).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0.01),
    default=20.0,
    show_default=True,
    help="Seconds a request gets to send its body.",
)
@click.option(
    "--write-timeout",
    type=click.FloatRange(0.01),
    default=10.0,
    show_default=True,
    help="Seconds a stream waits for a caller that stopped reading, then drops it.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Open connections at most (0: half the open-file limit).",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    envvar="SARVANOM_GATEWAY_WORKERS",
    show_envvar=True,
    help="Worker processes [default: the number of cores]. Limits above are divided "
    "between them unless shared through SARVANOM_REDIS_URL; 1: a single process.",
)
@click.option(
    "--loop",
    "loop_name",
    type=click.Choice(["asyncio", "uvloop"]),
    default="asyncio",
    show_default=True,
    envvar="SARVANOM_GATEWAY_LOOP",
    show_envvar=True,
    help="Event loop; uvloop (pip install uvloop) measured under 10 %% faster here, so "
    "asyncio is the default.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve(
    host: str,
    port: int,
    token: str | None,
    tokens: str | None,
    insecure_no_token: bool,
    strict: bool,
    max_in_flight: int,
    max_body_bytes: int,
    shutdown_timeout: float,
    allowed_hosts: tuple[str, ...],
    cors_origins: tuple[str, ...],
    caller_overrides: str,
    min_timeout: float,
    default_model: str | None,
    header_timeout: float,
    body_timeout: float,
    write_timeout: float,
    max_connections: int,
    workers: int | None,
    loop_name: str,
    log_level: str,
) -> None:
    """Serve the provider chain over HTTP: the seed's /api/query and
    /health/gpu-providers, OpenAI's /v1/chat/completions and /v1/models, /metrics.

    \b
    Examples:
      sarvanom serve
      SARVANOM_GATEWAY_TOKEN=... sarvanom serve --host 0.0.0.0 --port 8000
      # then: openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="<token>")
    """
    token, tokens = token or None, tokens or None
    check_bind(host, token or tokens, insecure_no_token)
    from sarvanom_sdk import SarvanError, Settings
    from sarvanom_sdk.gateway import Access, CallerPolicy, Limits, server
    from sarvanom_sdk.gateway import shares as split
    from sarvanom_sdk.gateway.access import parse_list
    from sarvanom_sdk.gateway.tokens import TokenGuard
    from sarvanom_sdk.gateway.workers import can_fork, default_workers

    count = workers or default_workers()
    if count > 1 and not can_fork():
        raise click.ClickException("--workers: more than 1 needs os.fork (Linux, macOS, BSD)")
    loop_label, loop_factory = choose_loop(loop_name)
    try:
        overrides: dict[str, Any] = {"fallback_to_stub": False} if strict else {}
        limits = Limits(
            max_in_flight=max_in_flight,
            max_body_bytes=max_body_bytes,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            write_timeout=write_timeout,
            max_connections=max_connections,
        )
        access = Access(parse_list(allowed_hosts), parse_list(cors_origins))
        callers = CallerPolicy.parse(caller_overrides, min_timeout)
        guard = TokenGuard.from_value(tokens) if tokens else None
        settings = None  # read here only when needed: one process reads it in its client
        if default_model or count > 1:
            from sarvanom_sdk.model_names import with_default

            settings = Settings.from_env(**overrides)
            if default_model:
                overrides["model_aliases"] = with_default(settings.model_aliases, default_model)
                settings = settings.replace(model_aliases=overrides["model_aliases"])
        split.check_workers(limits, count)
    except SarvanError as error:
        raise click.ClickException(str(error)) from None
    plan = _Plan(host, token, overrides, settings, limits, access, callers, guard, count,
                 loop_label)
    if count > 1:
        _configure_logging(log_level)
        _serve_workers(plan, port, shutdown_timeout, loop_factory)
        return
    try:
        app, client, guard = plan.build(split.WHOLE)
    except SarvanError as error:
        raise click.ClickException(str(error)) from None
    _configure_logging(log_level)
    # SIGTERM/SIGINT: graceful shutdown (the gateway writes its own access log)
    try:
        server.serve(
            app,
            host,
            port,
            shutdown_timeout=shutdown_timeout,
            ready=plan.announcer(app, client, guard),
            loop_factory=loop_factory,
        )
    except OSError as error:  # D3: one line, no banner before it
        reason = error.strerror or str(error)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None


@dataclass
class _Plan:
    """The validated options every serving process builds its gateway from."""

    host: str
    token: str | None
    overrides: dict[str, Any]
    settings: Any  # Settings from the environment; None for one process (its client reads it)
    limits: Any
    access: Any
    callers: Any
    guard: Any  # TokenGuard or None
    workers: int
    loop: str

    @property
    def shared(self) -> bool:
        """Whether Redis shares the budget and the token limits."""
        return bool(self.settings is not None and self.settings.redis_url)

    def build(self, share: Any) -> tuple[Any, Any, Any]:
        """One process's client, app and token guard, with its share of the limits
        (:mod:`sarvanom_sdk.gateway.shares`)."""
        from sarvanom_sdk import AsyncSarvanClient
        from sarvanom_sdk.gateway import create_app
        from sarvanom_sdk.gateway import shares as split
        from sarvanom_sdk.gateway.tokens import TokenGuard

        own = {} if self.workers == 1 else split.settings_share(self.settings, share)
        client = AsyncSarvanClient(**self.overrides, **own)
        guard = self.guard
        if guard is not None and self.workers > 1:
            guard = TokenGuard(split.keyring_share(guard.keyring, share, self.shared))
        app = create_app(
            client,
            token=self.token,
            limits=split.limits_share(self.limits, share),
            access=self.access,
            callers=self.callers,
            tokens=guard,
        )
        return app, client, guard

    def lines(self) -> list[str]:
        """How the limits are divided between workers (nothing for one process)."""
        from sarvanom_sdk.gateway import shares as split

        if self.workers == 1:
            return []
        keyring = self.guard.keyring if self.guard is not None else None
        return split.describe(self.limits, self.settings, keyring, self.workers, self.shared)

    def announcer(self, app: Any, client: Any, guard: Any) -> Callable[[int], None]:
        """``ready(port)``: the banner and the start-up lines and warnings, once bound."""
        from sarvanom_sdk.chain import active_chain
        from sarvanom_sdk.gateway.app import GATEWAY

        def ready(bound: int) -> None:  # after the bind, so a bind error is the only output
            banner = _banner(self.host, bound, client, self.token, guard, self.workers, self.loop)
            click.echo(banner, err=True)
            for line in self.lines():
                click.echo(line, err=True)
            if app[GATEWAY].metrics is None:
                click.echo("/metrics is off: pip install 'sarvanom-sdk[server]'", err=True)
            if not [p for p in active_chain(client.settings) if p.value != "local_stub"]:
                click.echo(_STUB_ONLY_WARNING, err=True)

        return ready


def _serve_workers(plan: _Plan, port: int, shutdown_timeout: float, loop_factory: Any) -> None:
    """Bind once, fork ``plan.workers`` workers, supervise them until SIGTERM/SIGINT."""
    from sarvanom_sdk import SarvanError
    from sarvanom_sdk.gateway import server
    from sarvanom_sdk.gateway import shares as split
    from sarvanom_sdk.gateway import workers as pool

    host, count = plan.host, plan.workers
    try:
        groups = pool.bind_listeners(host, port, count)
    except OSError as error:  # D3: one line, no banner before it
        reason = error.strerror or str(error)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None

    def work(index: int, first: bool) -> int:
        mine = groups[index % len(groups)]
        for sock in (s for group in groups if group is not mine for s in group):
            sock.close()  # this process's copy only: the parent keeps them for the others
        try:
            app, client, guard = plan.build(split.Share(index, count))
        except SarvanError as error:
            click.echo(f"Error: {error}", err=True)
            return pool.EXIT_CONFIG
        pool.prepare_worker_app(app)
        quiet: Callable[[int], None] = lambda bound: None  # noqa: E731
        server.serve(
            app,
            host,
            port,
            shutdown_timeout=shutdown_timeout,
            ready=plan.announcer(app, client, guard) if first and index == 0 else quiet,
            sockets=mine,
            loop_factory=loop_factory,
        )
        return 0

    try:
        with pool.multiprocess_metrics() as process_dead:
            status = pool.supervise(
                work, count, shutdown_timeout=shutdown_timeout, on_exit=process_dead
            )
    finally:
        for sock in (s for group in groups for s in group):
            sock.close()
    if status:
        raise click.exceptions.Exit(status)


def choose_loop(name: str) -> tuple[str, Callable[[], Any] | None]:
    """The event loop ``--loop`` names: (label, factory; None: asyncio's own). uvloop is an
    explicit choice, never picked because it is installed: it saved 7-9 % of the gateway's
    instructions per request and no throughput here, under issue 18's 10 % bar for an
    automatic speedup. Only the CLI chooses a loop; the library never installs an
    event-loop policy."""
    if name == "asyncio":
        return "asyncio", None
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise click.ClickException(
            "--loop uvloop: uvloop is not installed (pip install uvloop)"
        ) from None
    return "uvloop", uvloop.new_event_loop


_STUB_ONLY_WARNING = (
    "warning: no provider is configured, so every answer is the local stub's placeholder "
    "text (set OLLAMA_BASE_URL, GPU_REMOTE_URL or HUGGINGFACE_API_KEY; see 'sarvanom "
    "providers'), or pass --strict to answer 503 instead"
)


def _banner(
    host: str,
    port: int,
    client: object,
    token: str | None,
    guard: Any = None,
    workers: int = 1,
    loop: str = "asyncio",
) -> str:
    url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    auth = "bearer token" if token else "none"
    if guard is not None:
        where = "shared through Redis" if guard.limiter.shared else "per process"
        if workers > 1 and not guard.limiter.shared:
            where = f"split across {workers} workers"
        auth = f"{len(guard.keyring)} bearer tokens, limits {where}"
    banner = f"sarvanom gateway on http://{url_host}:{port}  {client!r}  auth: {auth}"
    if workers > 1:
        banner += f"  workers: {workers}"
    if loop != "asyncio":
        banner += f"  loop: {loop}"
    return banner


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    logging.getLogger("sarvanom_sdk").setLevel(level.upper())
