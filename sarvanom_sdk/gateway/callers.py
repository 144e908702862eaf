"""What a gateway caller may choose per request (F5).

Every caller of a gateway shares its providers, breakers and budget, so the operator
decides which of the SDK's per-request knobs a caller may turn. :class:`CallerPolicy`:

* ``allowed``: the overrides callers may use, among :data:`OVERRIDES` — ``timeout``,
  ``model`` (a provider's model, ``sarvanom/<provider>/<model>`` on ``/v1``), ``provider``
  (a pin, ``sarvanom/<provider>``), ``hedge``, ``cache``, ``tier`` and ``stream_recovery``
  (issue 13). Default: all of them. A forbidden one is refused with 400 naming the field
  (never silently dropped).
* ``min_timeout``: a smaller per-request ``timeout`` is raised to it (default 1 s), so a
  caller cannot make healthy providers look slow with a tiny deadline.

``sarvanom serve --caller-overrides cache,tier --min-timeout 5`` (or
``SARVANOM_GATEWAY_CALLER_OVERRIDES`` / ``SARVANOM_GATEWAY_MIN_TIMEOUT_SECONDS``) is the
hardened setting for a gateway shared by callers the operator does not trust.

:func:`decide_cache` is the gateway's cache rule: sampled answers are not cached (D1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from ..types import DEFAULT_TEMPERATURE
from .limits import GatewayError

OVERRIDES = ("timeout", "model", "provider", "hedge", "cache", "tier", "stream_recovery")
_WHAT = {
    "timeout": "setting a per-request timeout",
    "model": "choosing a provider's model",
    "provider": "pinning a provider",
    "hedge": "turning hedging on or off",
    "cache": "choosing whether the cache is used",
    "tier": "choosing a tier",
    "stream_recovery": "choosing how a cut stream recovers",
}


@dataclass(frozen=True, slots=True)
class CallerPolicy:
    """See the module docstring."""

    allowed: frozenset[str] = field(default_factory=lambda: frozenset(OVERRIDES))
    min_timeout: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.allowed, str):
            raise ConfigurationError("caller_overrides", "must be a set of names, not a string")
        allowed = frozenset(self.allowed)
        unknown = sorted(allowed - set(OVERRIDES))
        if unknown:
            raise ConfigurationError(
                "caller_overrides",
                f"unknown override {unknown[0]!r}; allowed: {', '.join(OVERRIDES)}",
            )
        object.__setattr__(self, "allowed", allowed)
        m = self.min_timeout
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < float("inf"):
            raise ConfigurationError("min_timeout", f"must be a number >= 0, got {m!r}")

    @classmethod
    def parse(cls, names: str | Iterable[str] | None, min_timeout: float = 1.0) -> CallerPolicy:
        """From a comma-separated list (``"all"`` or None: every override; ``"none"`` or
        empty: none)."""
        if names is None:
            return cls(min_timeout=min_timeout)
        items = names.split(",") if isinstance(names, str) else list(names)
        words = {item.strip().lower() for item in items if item.strip()}
        if words == {"all"}:
            return cls(min_timeout=min_timeout)
        if words <= {"none"}:
            return cls(frozenset(), min_timeout)
        return cls(frozenset(words), min_timeout)

    def apply(
        self, fields: Mapping[str, Any], named: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """``fields`` (LLMRequest keyword arguments, nulls removed) as this policy allows:
        400 for a forbidden override, ``timeout`` raised to ``min_timeout``. ``named``
        maps a field to what the caller wrote it as (``provider`` -> ``model`` on
        ``/v1``), for the message."""
        out = dict(fields)
        for name in OVERRIDES:
            if name in out and name not in self.allowed:
                param = (named or {}).get(name, name)
                allowed = ", ".join(sorted(self.allowed)) or "none"
                raise GatewayError(
                    400,
                    f"{param}: {_WHAT[name]} is not allowed on this gateway "
                    f"(caller overrides allowed here: {allowed})",
                    code="override_not_allowed",
                    param=param,
                )
        timeout = out.get("timeout")
        if (
            isinstance(timeout, (int, float))
            and not isinstance(timeout, bool)
            and 0 < timeout < self.min_timeout
        ):
            out["timeout"] = float(self.min_timeout)
        return out


#: ``Cache-Control`` directives of a request that bypass the cache.
_BYPASS = frozenset({"no-cache", "no-store"})


def decide_cache(fields: Mapping[str, Any], cache_control: str | None) -> dict[str, Any]:
    """The gateway's cache rule (D1), applied after :meth:`CallerPolicy.apply`: an answer
    is served from and stored in the cache only when it is deterministic — temperature
    0 — unless the caller says ``"cache": true``; ``"cache": false`` or a
    ``Cache-Control: no-cache`` / ``no-store`` request header always bypasses it. So a
    chat UI's "regenerate" (temperature > 0) gets a new answer. ``fields`` are LLMRequest
    keyword arguments; a missing temperature is the SDK's default (0.7, sampled)."""
    out = dict(fields)
    if cache_control and _BYPASS & {d.strip().lower() for d in cache_control.split(",")}:
        out["cache"] = False
    elif "cache" not in out:
        temperature = out.get("temperature", DEFAULT_TEMPERATURE)
        out["cache"] = not (isinstance(temperature, (int, float)) and temperature > 0)
    return out
