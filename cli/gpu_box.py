"""``sarvanom gpu-box``: serve a model as the SDK's free remote GPU box.

Binds loopback by default. A token (``GPU_REMOTE_TOKEN`` or ``--token``) makes every
endpoint but ``/health`` need ``Authorization: Bearer <token>``; binding any other address
without one is refused. Behind a tunnel (which reaches the box on loopback) always set a
token: the SDK sends ``GPU_REMOTE_TOKEN`` as that bearer token. Log lines never hold it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .serve import is_loopback


class _Redacting(logging.Formatter):
    """Replace the token in every line printed, tracebacks included (aiohttp logs a
    malformed header line verbatim, inside the parser error's traceback)."""

    def __init__(self, fmt: str, secret: str | None) -> None:
        super().__init__(fmt)
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace(self._secret, "***") if self._secret else text


@click.command("gpu-box")
@click.option("--backend-url", metavar="URL",
              help="An OpenAI-compatible server to answer with, e.g. llama.cpp's "
                   "http://127.0.0.1:8080 (with or without /v1).")
@click.option("--embeddings-url", metavar="URL",
              help="Another OpenAI-compatible server for /v1/embeddings (llama.cpp serves "
                   "embeddings from a server started with --embeddings); default: the backend.")
@click.option("--model-path", metavar="PATH",
              help="A local transformers model directory instead of --backend-url "
                   "(pip install 'sarvanom-sdk[gpu-box]'); nothing is downloaded.")
@click.option("--model", "model_name", metavar="NAME",
              help="The model name to report (default: the backend's first model).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", envvar="GPU_REMOTE_TOKEN", metavar="TOKEN",
              help="Bearer token required on every endpoint but /health "
                   "(prefer the GPU_REMOTE_TOKEN variable: arguments show in ps).")
@click.option("--gpus", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Requests answered at once.")
@click.option("--queue", default=4, show_default=True, type=click.IntRange(0, 1000),
              help="Requests that may wait for a GPU; past that the answer is 503.")
@click.option("--retry-after", default=2, show_default=True, type=click.IntRange(0, 3600),
              help="Seconds sent in Retry-After with a 503.")
@click.option("--max-tokens", default=4096, show_default=True, type=click.IntRange(1, 1 << 20),
              help="Cap on a request's max_tokens.")
@click.option("--backend-timeout", default=300.0, show_default=True,
              type=click.FloatRange(0.1, 3600), help="Seconds allowed for one backend call.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def gpu_box(
    backend_url: str | None,
    embeddings_url: str | None,
    model_path: str | None,
    model_name: str | None,
    host: str,
    port: int,
    token: str | None,
    gpus: int,
    queue: int,
    retry_after: int,
    max_tokens: int,
    backend_timeout: float,
    log_level: str,
) -> None:
    """Serve a model as the SDK's remote GPU box (seed and OpenAI protocols).

    \b
    Examples:
      llama-server -m model.gguf --port 8080 &
      GPU_REMOTE_TOKEN=$(openssl rand -hex 16) sarvanom gpu-box --backend-url http://127.0.0.1:8080
      # then, where the SDK runs: GPU_REMOTE_URL=https://<tunnel> GPU_REMOTE_TOKEN=<same>
    """
    token = token or None
    if (backend_url is None) == (model_path is None):
        raise click.UsageError("give exactly one of --backend-url and --model-path")
    if not token and not is_loopback(host):
        raise click.ClickException(
            f"refusing to bind {host!r} without a token: set GPU_REMOTE_TOKEN (or --token)"
        )
    from aiohttp import web

    from sarvanom_sdk.gpu_box import GpuBox, GpuSlots, OpenAIBackend, create_app

    backend: Any
    if backend_url is not None:
        backend = OpenAIBackend(
            backend_url, model=model_name, embeddings_url=embeddings_url, timeout=backend_timeout
        )
        kind = "openai-compatible"
    else:
        from sarvanom_sdk.gpu_box.transformers_backend import TransformersBackend

        assert model_path is not None
        _check_transformers(model_path)
        backend, kind = TransformersBackend(model_path, model=model_name), "transformers"
    box = GpuBox(
        backend, token=token, slots=GpuSlots(gpus, queue), retry_after=retry_after,
        max_tokens_cap=max_tokens, backend_name=kind,
    )
    _configure_logging(log_level, token)
    auth = "bearer token" if token else "none (loopback only; set a token before any tunnel)"
    click.echo(f"sarvanom gpu-box on http://{host}:{port}  backend: {kind}  auth: {auth}", err=True)
    web.run_app(
        create_app(box), host=host, port=port, print=None,
        access_log_format='%a "%r" %s %b %Tfs',
        handler_cancellation=True,  # a caller who leaves frees its GPU slot at once
    )


def _check_transformers(model_path: str) -> None:
    """One clear line, before anything starts, for a missing extra or model folder."""
    import importlib.util
    import os

    if not os.path.isdir(model_path):
        raise click.BadParameter(f"{model_path!r} is not a directory", param_hint="--model-path")
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            raise click.ClickException(
                f"--model-path needs {module}: pip install 'sarvanom-sdk[gpu-box]'"
            )


def _configure_logging(level: str, token: str | None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(name)s %(message)s", token))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
