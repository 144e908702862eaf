"""Provider adapters: one sans-IO module per wire protocol (see :mod:`.base`).

:func:`adapter_for` builds the adapter of a wire provider from :class:`Settings`; the
local stub has no wire and no adapter here.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidRequestError
from ..settings import Settings
from ..types import ProviderName
from .anthropic import AnthropicAdapter
from .base import Completion, ProviderAdapter, StreamDecoder, StreamEvent
from .huggingface import HuggingFaceAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter
from .remote_gpu import RemoteGPUAdapter

__all__ = [
    "AnthropicAdapter",
    "Completion",
    "HuggingFaceAdapter",
    "OllamaAdapter",
    "OpenAIAdapter",
    "ProviderAdapter",
    "RemoteGPUAdapter",
    "StreamDecoder",
    "StreamEvent",
    "adapter_for",
]

_FACTORIES: dict[ProviderName, Callable[[Settings], ProviderAdapter]] = {
    ProviderName.OLLAMA_LOCAL: OllamaAdapter.from_settings,
    ProviderName.REMOTE_GPU: RemoteGPUAdapter.from_settings,
    ProviderName.HUGGINGFACE: HuggingFaceAdapter.from_settings,
    ProviderName.OPENAI: OpenAIAdapter.from_settings,
    ProviderName.ANTHROPIC: AnthropicAdapter.from_settings,
}


def adapter_for(name: ProviderName, settings: Settings) -> ProviderAdapter:
    """The adapter for wire provider ``name``, configured from ``settings``.

    Raises :class:`ConfigurationError` when the provider's URL is not set (ollama_local,
    remote_gpu) or a setting is refused (a non-HTTPS remote GPU URL), and
    :class:`InvalidRequestError` for local_stub, which has no wire.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InvalidRequestError("provider", f"{name} has no wire adapter")
    return factory(settings)
