"""Which provider chain a request's ``model`` names, for every ingress of the gateway
(OpenAI's ``/v1/chat/completions`` and ``/v1/models``, Anthropic's ``/v1/messages``):
:func:`resolve` is the one place that decides.

===================================== ============================================================
``sarvanom/auto``                     the whole chain, free first (as ``client.complete()``)
``sarvanom/<provider>``               pinned to one provider of the chain, e.g.
                                      ``sarvanom/ollama_local``; the stub still answers if it fails
``sarvanom/<provider>/<model>``       pinned, with that provider's model overridden, e.g.
                                      ``sarvanom/huggingface/meta-llama/Llama-3.1-8B-Instruct``
``sarvanom/local_stub``               the stub alone (for tests)
an alias (``SARVANOM_MODEL_ALIASES``) its target, e.g. ``gpt-4o-mini=sarvanom/auto`` (issue 15)
anything else                         the default's target when the operator set one
                                      (``sarvanom serve --default-model sarvanom/auto``, the
                                      alias ``*``); otherwise 404 ``model_not_found``
===================================== ============================================================

A ``sarvanom/...`` name is never aliased or defaulted: a provider not in the chain is a 404
with the reason, as is an alias whose target names one. An alias's pin is the operator's
choice, not the caller's, so the caller policy's ``provider``/``model`` switches do not
apply to it (:meth:`ResolvedModel.caller_fields`). Whatever name was asked for, answers name
the provider and model that really answered (:func:`answered_as`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chain import active_chain, not_in_chain_reason
from ..model_names import AUTO, DEFAULT, PREFIX, parse_aliases, split_name
from ..settings import Settings
from ..types import ProviderName
from .limits import GatewayError

__all__ = [
    "AUTO",
    "PREFIX",
    "ResolvedModel",
    "aliases",
    "answered_as",
    "listed_models",
    "resolve",
    "served_models",
]

_STUB = ProviderName.LOCAL_STUB


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """What a model name means: ``provider`` (None: the whole chain) and ``model`` (the
    provider's model override, or None); ``alias``: the operator's alias that mapped it
    (``"*"`` for the default), None when the caller named a sarvanom model itself."""

    provider: ProviderName | None
    model: str | None
    alias: str | None = None

    def fields(self) -> dict[str, Any]:
        """LLMRequest keyword arguments for the pin and the override (none for auto)."""
        out: dict[str, Any] = {}
        if self.provider is not None:
            out["provider"] = self.provider
        if self.model is not None:
            out["model"] = self.model
        return out

    def caller_fields(self) -> dict[str, Any]:
        """The fields the caller chose (checked against the caller policy): none when an
        alias chose them."""
        return {} if self.alias is not None else self.fields()

    def operator_fields(self) -> dict[str, Any]:
        """The fields the operator's alias chose (not subject to the caller policy)."""
        return self.fields() if self.alias is not None else {}


def aliases(settings: Settings) -> dict[str, str]:
    """The operator's aliases ``{name: target}`` (the default under ``"*"``)."""
    return parse_aliases(settings.model_aliases)


def served_models(settings: Settings) -> list[str]:
    """The sarvanom model names served: auto, then each provider of the chain."""
    return [AUTO, *(PREFIX + p.value for p in active_chain(settings))]


def listed_models(settings: Settings) -> list[tuple[str, str | None]]:
    """What ``/v1/models`` lists: ``(name, alias target or None)`` for the served names,
    then every alias (not the default, which is no name)."""
    listed: list[tuple[str, str | None]] = [(name, None) for name in served_models(settings)]
    listed += [(name, target) for name, target in aliases(settings).items() if name != DEFAULT]
    return listed


def resolve(name: Any, settings: Settings) -> ResolvedModel:
    """What ``name`` (a request's ``model``) means here (see the module docstring): 400 when
    it is missing or not a string, 404 ``model_not_found`` naming what is served when
    nothing here answers to it."""
    if not isinstance(name, str) or not name.strip():
        raise GatewayError.bad_request("model", "model: required, e.g. 'sarvanom/auto'")
    alias = None
    target = name
    if not name.startswith(PREFIX):
        table = aliases(settings)
        alias = name if name in table else DEFAULT if DEFAULT in table else None
        if alias is None:
            raise _model_not_found(name, settings, "")
        target = table[alias]
    try:
        provider, model = split_name(target)
    except ValueError as why:
        raise _model_not_found(name, settings, str(why)) from None
    if provider is not None and provider not in active_chain(settings):
        via = f"; alias of {target}" if alias is not None else ""
        reason = not_in_chain_reason(provider, settings)
        raise _model_not_found(name, settings, f" ({reason}{via})")
    return ResolvedModel(provider, model, alias)


def answered_as(provider: ProviderName, model: str | None) -> str:
    """The gateway's name for what answered: ``sarvanom/<provider>/<model>``, or
    ``sarvanom/<provider>`` when the model is unknown (and for the stub)."""
    if model and provider is not _STUB:
        return f"{PREFIX}{provider.value}/{model}"
    return PREFIX + provider.value


def _model_not_found(name: str, settings: Settings, why: str) -> GatewayError:
    served = [n for n, _ in listed_models(settings)]
    return GatewayError(
        404,
        f"The model '{name[:200]}' does not exist{why}; this gateway serves: "
        f"{', '.join(served)}",
        code="model_not_found",
        param="model",
    )
