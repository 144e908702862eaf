"""Fixtures of the parity suite: every test runs once per client kind against one
emulator per module, reset between tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reliability.helpers import chain, fresh

from parity.drivers import KINDS, Connect, Driver, open_driver
from sarvanom_sdk.testing import ProviderEmulator


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh_emulator(emu: ProviderEmulator) -> None:
    fresh(emu)


@pytest.fixture(params=KINDS)
def client_kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def connect(emu: ProviderEmulator, client_kind: str) -> Iterator[Connect]:
    """``connect("ollama", "openai", cache_ttl_seconds=0)``: a driver of this test's client
    kind over a chain of emulated providers (in that order, then the stub), with short
    timeouts; closed after the test."""
    opened: list[Driver] = []

    def make(*providers: str, **overrides: Any) -> Driver:
        driver = open_driver(client_kind, **chain(emu, *providers, **overrides))
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        driver.close()
