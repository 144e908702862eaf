"""Fixtures for tests against a real llama.cpp ``llama-server`` on loopback.

``llama_server`` (session scope) builds the server once into the cache directory
(``$SARVANOM_LLAMA_CACHE``, default ``~/.cache/sarvanom/llama``; about 7 minutes the
first time, under a second afterwards), starts it on 127.0.0.1 on a free port and stops
it at the end of the session. It serves SmolLM2-135M-Instruct under the alias given by
``llama_model_name`` on both protocols: OpenAI at ``{base_url}/v1/...`` and Anthropic at
``{base_url}/v1/messages``.

Policy when the server cannot be built or started: with ``CI`` set (e.g. ``CI=true``)
every test that asks for it FAILS with the reason; elsewhere it is skipped with the
reason. The attempt is made once per session: later tests get the same outcome at once.

Mark such tests ``@pytest.mark.real_model``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import llama_server as _ls  # noqa: E402  (stdlib-only helper beside this file)
from required_server import RequiredServer  # noqa: E402  (tests/, on sys.path)

#: Started once per session; skipped with the reason (failed under CI) when it cannot be.
LLAMA = RequiredServer("real llama-server", _ls.LlamaServer, (_ls.LlamaServerError,))


@pytest.fixture(scope="session")
def llama_server() -> Iterator[_ls.LlamaServer]:
    """A running llama-server: ``.base_url`` is ``http://127.0.0.1:PORT`` (no ``/v1``)."""
    with LLAMA.serving() as server:
        yield server


@pytest.fixture(scope="session")
def llama_model_name(llama_server: _ls.LlamaServer) -> str:
    """The model name the server reports (``/v1/models``) and answers under."""
    return llama_server.model_name


@pytest.fixture(scope="session")
def llama_base_url(llama_server: _ls.LlamaServer) -> str:
    """``http://127.0.0.1:PORT`` of the running server (append ``/v1`` for OpenAI)."""
    return llama_server.base_url
