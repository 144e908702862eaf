"""Offline testing tools: a provider emulator and the faults it can inject.

``ProviderEmulator`` is a loopback HTTP server that speaks the wire protocols of every
provider the SDK routes to (Ollama, the seed's remote GPU box, Hugging Face, OpenAI,
Anthropic), so apps and the SDK itself can be tested, and benchmarked, without a network
or an API key. See ``sarvanom_sdk.testing.emulator`` for a worked example,
``sarvanom_sdk.testing.faults`` for every fault (names, parameters, and on which providers
each exists), ``sarvanom_sdk.testing.fault_spec`` for faults written as text (``sarvanom
emulate --fault``), and ``sarvanom_sdk.testing.pytest_plugin`` for the
``provider_emulator`` fixture.

Importing this package is cheap: aiohttp is imported when ``ProviderEmulator`` is first
used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import Fault, FaultRule

if TYPE_CHECKING:
    from ._catalog import PROVIDERS
    from ._records import RecordedRequest
    from .emulator import ProviderEmulator

__all__ = ["PROVIDERS", "Fault", "FaultRule", "ProviderEmulator", "RecordedRequest"]

_LAZY = {
    "ProviderEmulator": ".emulator",
    "RecordedRequest": "._records",
    "PROVIDERS": "._catalog",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
