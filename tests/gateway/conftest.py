"""Fixtures for the gateway tests: the provider emulator and the gateway served on
127.0.0.1 through aiohttp's test client, on the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import OpenGateway

from sarvanom_sdk import AsyncSarvanClient
from sarvanom_sdk.gateway import create_app
from sarvanom_sdk.testing import ProviderEmulator


@pytest.fixture
def emulator() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emu:
        yield emu


@pytest.fixture
async def open_gateway() -> AsyncIterator[OpenGateway]:
    """``await open_gateway(client, **create_app_options)``: an aiohttp TestClient talking
    to a new gateway on 127.0.0.1; everything is closed after the test."""
    async with AsyncExitStack() as stack:

        async def open_(client: AsyncSarvanClient | None = None, **options: Any) -> TestClient:
            server = TestServer(create_app(client, **options), host="127.0.0.1")
            return await stack.enter_async_context(TestClient(server))

        yield open_
