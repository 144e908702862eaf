"""Load the emulator's pytest plugin unless the installed entry point already did."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("sarvanom_emulator"):
        config.pluginmanager.import_plugin("sarvanom_sdk.testing.pytest_plugin")
