"""Pytest plugin providing the ``provider_emulator`` fixture.

Registered through the ``pytest11`` entry point ``sarvanom_emulator``, so installing the
SDK makes the fixture available everywhere; without the install, add
``pytest_plugins = ["sarvanom_sdk.testing.pytest_plugin"]`` to a ``conftest.py``.

``provider_emulator`` is a started :class:`~sarvanom_sdk.testing.ProviderEmulator` on its
own thread (so it serves sync and async tests alike), one per test, stopped afterwards::

    def test_fallback_on_503(provider_emulator, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", provider_emulator.url_for("openai"))
        provider_emulator.inject("openai", Fault.http(503), times=1)
        ...
        assert provider_emulator.request_count("openai") == 2

Constructor options come from the ``provider_emulator`` marker::

    @pytest.mark.provider_emulator(reply_text="42", api_keys={"openai": "sk-test"})
    def test_answer(provider_emulator): ...

Importing this module is cheap: aiohttp is imported only when the fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .emulator import ProviderEmulator

MARKER = "provider_emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword arguments for the provider_emulator fixture's "
        "ProviderEmulator (reply_text, latency, stream_chunks, api_keys, ...)",
    )


@pytest.fixture
def provider_emulator(request: pytest.FixtureRequest) -> Iterator[ProviderEmulator]:
    """A running ProviderEmulator (thread-hosted) for one test; stopped after it."""
    from .emulator import ProviderEmulator

    marker = request.node.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    with ProviderEmulator(**options) as emulator:
        yield emulator
