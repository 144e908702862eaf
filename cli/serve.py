"""``sarvanom serve``: the SDK as an HTTP gateway (see :mod:`sarvanom_sdk.gateway`).

Binds loopback by default. With a token (``SARVANOM_GATEWAY_TOKEN``, or ``--token``) every
endpoint but ``/health`` needs ``Authorization: Bearer <token>``. Binding any other address
without a token is refused unless ``--insecure-no-token`` says so explicitly. SIGTERM and
SIGINT stop it gracefully: it stops accepting, gives in-flight requests up to
``--shutdown-timeout`` seconds, then closes the client.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``); any
    other host name may resolve to anything. (The SDK's own rule, imported on use so that
    ``sarvanom --help`` stays light.)"""
    from sarvanom_sdk.settings import is_loopback_host

    return is_loopback_host(host.strip())


def check_bind(host: str, token: str | None, insecure_no_token: bool) -> None:
    """Refuse (``click.ClickException``: one line, exit status 1) to serve a non-loopback
    address without a token."""
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
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve(
    host: str,
    port: int,
    token: str | None,
    insecure_no_token: bool,
    strict: bool,
    max_in_flight: int,
    max_body_bytes: int,
    shutdown_timeout: float,
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
    token = token or None
    check_bind(host, token, insecure_no_token)
    from aiohttp import web

    from sarvanom_sdk import AsyncSarvanClient, SarvanError
    from sarvanom_sdk.gateway import Limits, create_app
    from sarvanom_sdk.gateway.app import GATEWAY

    try:
        overrides: dict[str, Any] = {"fallback_to_stub": False} if strict else {}
        client = AsyncSarvanClient(**overrides)
        limits = Limits(max_in_flight=max_in_flight, max_body_bytes=max_body_bytes)
        app = create_app(client, token=token, limits=limits)
    except SarvanError as error:
        raise click.ClickException(str(error)) from None
    _configure_logging(log_level)
    click.echo(_banner(host, port, client, token), err=True)
    if app[GATEWAY].metrics is None:
        click.echo("/metrics is off: pip install 'sarvanom-sdk[server]'", err=True)
    # SIGTERM/SIGINT: graceful shutdown; no aiohttp access log (the gateway logs requests)
    options: dict[str, Any] = {"handle_signals": True, "access_log": None, "print": None}
    web.run_app(app, host=host, port=port, shutdown_timeout=shutdown_timeout, **options)


def _banner(host: str, port: int, client: object, token: str | None) -> str:
    url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    auth = "bearer token" if token else "none"
    return f"sarvanom gateway on http://{url_host}:{port}  {client!r}  auth: {auth}"


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    logging.getLogger("sarvanom_sdk").setLevel(level.upper())
