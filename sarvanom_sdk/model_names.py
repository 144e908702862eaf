"""The gateway's model names and the operator's aliases for them, as plain values (no I/O,
no aiohttp: :class:`~sarvanom_sdk.settings.Settings` validates ``SARVANOM_MODEL_ALIASES``
with them; :mod:`sarvanom_sdk.gateway.models` resolves a request's ``model`` with them).

Sarvanom model names: ``sarvanom/auto`` (the whole chain), ``sarvanom/<provider>`` (a pin)
and ``sarvanom/<provider>/<model>`` (a pin with the provider's model overridden; not for
``local_stub``, which has no models).

Aliases (issue 15 item 3): ``SARVANOM_MODEL_ALIASES="gpt-4o-mini=sarvanom/auto,
claude-3-5-haiku-latest=sarvanom/auto"`` — comma-separated ``name=target`` pairs, each
target a sarvanom model name. The name ``*`` is the default: every model name that is not a
sarvanom name and not an alias maps to its target (``sarvanom serve --default-model``
writes it). An alias name may not begin with ``sarvanom/`` (it would shadow the gateway's
own names), nor hold ``,`` or ``=``; a name listed twice is an error.
"""

from __future__ import annotations

from functools import lru_cache

from .errors import ConfigurationError
from .types import ProviderName

PREFIX = "sarvanom/"
AUTO = "sarvanom/auto"
#: The alias name that maps every unknown model name (``--default-model``).
DEFAULT = "*"
VARIABLE = "SARVANOM_MODEL_ALIASES"
_MAX_NAME = 200
_PROVIDERS = ", ".join(p.value for p in ProviderName)


def split_name(name: str) -> tuple[ProviderName | None, str | None]:
    """``(provider pin, model override)`` of a sarvanom model name: ``(None, None)`` for
    ``sarvanom/auto``. ``ValueError`` when ``name`` is not one; its message is a
    parenthesised reason to append after the name (``" (the stub has no models)"``), or
    empty (no ``sarvanom/`` prefix, no such provider)."""
    if name == AUTO:
        return None, None
    if not name.startswith(PREFIX):
        raise ValueError("")
    provider_name, _, model = name.removeprefix(PREFIX).partition("/")
    try:
        provider = ProviderName(provider_name)
    except ValueError:
        raise ValueError("") from None
    if model and provider is ProviderName.LOCAL_STUB:
        raise ValueError(" (the stub has no models)")
    return provider, model or None


def parse_aliases(raw: str | None) -> dict[str, str]:
    """``SARVANOM_MODEL_ALIASES`` as ``{name: target}``, in the order given;
    :class:`ConfigurationError` naming the variable and the bad entry otherwise."""
    return dict(_parse(raw or ""))


@lru_cache(maxsize=32)
def _parse(raw: str) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, target = (part.strip() for part in item.partition("="))
        if not sep or not name or not target:
            raise ConfigurationError(
                VARIABLE, f"expected name=sarvanom/<target>, got {item.strip()[:_MAX_NAME]!r}"
            )
        if name.startswith(PREFIX):
            raise ConfigurationError(
                VARIABLE, f"{name[:_MAX_NAME]!r}: an alias may not begin with {PREFIX!r}"
            )
        if len(name) > _MAX_NAME or not name.isprintable():
            raise ConfigurationError(
                VARIABLE, f"alias names are printable and at most {_MAX_NAME} characters"
            )
        if name in out:
            raise ConfigurationError(VARIABLE, f"{name!r} is listed twice")
        check_target(target, f"{VARIABLE} ({name})")
        out[name] = target
    return tuple(out.items())


def check_target(target: str, variable: str) -> str:
    """``target`` when it is a sarvanom model name; :class:`ConfigurationError` naming
    ``variable`` and what is allowed otherwise."""
    try:
        split_name(target)
    except ValueError as why:
        raise ConfigurationError(
            variable,
            f"{target[:_MAX_NAME]!r} is not a sarvanom model name{why}; use {AUTO}, "
            f"{PREFIX}<provider> or {PREFIX}<provider>/<model> (providers: {_PROVIDERS})",
        ) from None
    return target


def with_default(raw: str | None, target: str) -> str:
    """``raw`` aliases with the default (``*``) mapped to ``target`` (replacing one
    already there): what ``sarvanom serve --default-model`` sets."""
    check_target(target, "--default-model")
    kept = [f"{n}={t}" for n, t in parse_aliases(raw).items() if n != DEFAULT]
    return ",".join([*kept, f"{DEFAULT}={target}"])
