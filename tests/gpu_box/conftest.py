"""The gpu-box suite's real backend: a llama.cpp ``llama-server`` started with embeddings
enabled (tests/real_model/llama_server.py; built once into the cache). As in
tests/real_model, it is skipped with the reason when it cannot be started, and fails
under CI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_REAL_MODEL = Path(__file__).resolve().parent.parent / "real_model"
if str(_REAL_MODEL) not in sys.path:
    sys.path.insert(0, str(_REAL_MODEL))

import llama_server as _ls  # noqa: E402
from required_server import RequiredServer  # noqa: E402

LLAMA_WITH_EMBEDDINGS = RequiredServer(
    "real llama-server (embeddings on)",
    lambda: _ls.LlamaServer(extra_args=_ls.EMBEDDING_ARGS),
    (_ls.LlamaServerError,),
)


@pytest.fixture(scope="session")
def llama_backend() -> Iterator[Any]:
    """A running llama-server serving chat and embeddings: ``.base_url`` (no ``/v1``)."""
    with LLAMA_WITH_EMBEDDINGS.serving() as server:
        yield server
