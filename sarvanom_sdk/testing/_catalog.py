"""The emulated providers: their names, URL paths and protocols.

=====================  ==========================  ====================================
provider               ``url_for`` path            protocol
=====================  ==========================  ====================================
``ollama``             ``/ollama``                 Ollama REST (``ollama_local`` alias)
``remote_gpu``         ``/remote_gpu``             the seed's ``/health`` + ``/generate``
``remote_gpu_openai``  ``/remote_gpu_openai``      OpenAI under ``/v1``, ``/health``
``huggingface``        ``/huggingface/v1``         HF router (OpenAI protocol)
``huggingface_task``   ``/huggingface``            HF legacy task API ``/models/{model}``
``openai``             ``/openai/v1``              OpenAI Chat Completions
``anthropic``          ``/anthropic``              Anthropic Messages
=====================  ==========================  ====================================
"""

from __future__ import annotations

from ._anthropic_wire import Anthropic
from ._huggingface_wire import ROUTER_MODELS, HuggingFaceRouter, HuggingFaceTask
from ._ollama_wire import Ollama
from ._openai_wire import OpenAICompatible, RemoteGpuOpenAI
from ._protocol import Protocol
from ._remote_gpu_wire import RemoteGpuSeed

PROVIDERS = (
    "ollama",
    "remote_gpu",
    "remote_gpu_openai",
    "huggingface",
    "huggingface_task",
    "openai",
    "anthropic",
)
ALIASES = {"ollama_local": "ollama"}


def canonical(provider: str) -> str:
    """The emulator's name for ``provider``; ``ValueError`` names the known ones."""
    name = ALIASES.get(provider, provider)
    if name not in PROVIDERS:
        known = ", ".join((*PROVIDERS, *ALIASES))
        raise ValueError(f"unknown provider {provider!r}; the emulator serves: {known}")
    return name


def build_protocols() -> dict[str, Protocol]:
    """One protocol instance per provider (each precomputes its probe replies)."""
    protocols: list[Protocol] = [
        Ollama("ollama", "/ollama"),
        RemoteGpuSeed("remote_gpu", "/remote_gpu"),
        RemoteGpuOpenAI(
            "remote_gpu_openai",
            "/remote_gpu_openai",
            models=("default",),
            owned_by="llamacpp",
            api_prefix="/v1",
            auth_required=False,
        ),
        HuggingFaceRouter(
            "huggingface", "/huggingface/v1", models=ROUTER_MODELS, owned_by="huggingface"
        ),
        HuggingFaceTask("huggingface_task", "/huggingface"),
        OpenAICompatible(
            "openai", "/openai/v1", models=("gpt-4o-mini", "gpt-4o"), owned_by="system"
        ),
        Anthropic("anthropic", "/anthropic"),
    ]
    return {protocol.name: protocol for protocol in protocols}
