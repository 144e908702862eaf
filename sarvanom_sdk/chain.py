"""The provider chain: which providers a configuration puts in, in what order, and why.

The seed's rules: ollama_local when ``OLLAMA_BASE_URL`` is set, remote_gpu when
``GPU_REMOTE_URL`` is set, huggingface when ``HUGGINGFACE_API_KEY`` is set, openai and
anthropic only when ``ENABLE_PAID_API`` is true and their key is set; local_stub always,
last. ``SARVANOM_PROVIDERS`` may reorder or drop providers (it cannot add one that is not
configured, and the stub always stays last).
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import Settings
from .types import PAID_PROVIDERS, ProviderName

SEED_ORDER: tuple[ProviderName, ...] = tuple(ProviderName)


@dataclass(frozen=True, slots=True)
class ChainEntry:
    provider: ProviderName
    included: bool
    reason: str


def _configured(provider: ProviderName, settings: Settings) -> str | None:
    """Why ``provider`` is not configured (None when it is)."""
    if provider is ProviderName.OLLAMA_LOCAL:
        return None if settings.ollama_base_url else "OLLAMA_BASE_URL not set"
    if provider is ProviderName.REMOTE_GPU:
        return None if settings.gpu_remote_url else "GPU_REMOTE_URL not set"
    if provider is ProviderName.HUGGINGFACE:
        return None if settings.huggingface_api_key else "HUGGINGFACE_API_KEY not set"
    if provider is ProviderName.OPENAI:
        return None if settings.openai_api_key else "OPENAI_API_KEY not set"
    if provider is ProviderName.ANTHROPIC:
        return None if settings.anthropic_api_key else "ANTHROPIC_API_KEY not set"
    return None


def explain_chain(settings: Settings) -> list[ChainEntry]:
    """Every provider with whether it is in the chain and why; chain members first, in
    chain order."""
    order = settings.providers or SEED_ORDER
    entries: list[ChainEntry] = []
    for provider in order:
        if provider is ProviderName.LOCAL_STUB:
            continue
        missing = _configured(provider, settings)
        if provider in PAID_PROVIDERS and not settings.enable_paid_api:
            entries.append(ChainEntry(provider, False, "paid API disabled (ENABLE_PAID_API)"))
        elif missing:
            entries.append(ChainEntry(provider, False, missing))
        else:
            entries.append(ChainEntry(provider, True, "configured"))
    entries.sort(key=lambda e: not e.included)
    entries.insert(
        sum(e.included for e in entries),
        ChainEntry(ProviderName.LOCAL_STUB, True, "always available (last resort)"),
    )
    for provider in SEED_ORDER:
        if provider is not ProviderName.LOCAL_STUB and provider not in order:
            entries.append(ChainEntry(provider, False, "left out by SARVANOM_PROVIDERS"))
    return entries


def active_chain(settings: Settings) -> tuple[ProviderName, ...]:
    """The chain in order, ending with local_stub."""
    return tuple(e.provider for e in explain_chain(settings) if e.included)


def not_in_chain_reason(provider: ProviderName, settings: Settings) -> str:
    for entry in explain_chain(settings):
        if entry.provider is provider:
            return entry.reason
    return "not in the chain"
