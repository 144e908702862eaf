"""Each worker's share of the limits an operator set (``sarvanom serve --workers N``).

Every worker is a process with its own state: its own in-flight gate, connection cap,
bulkheads, cost-gate ledger and per-token counters. A limit meant for the whole gateway
would hold N times over if each worker applied it whole. So, unless the state is shared
through Redis, each worker gets a share (sans-IO, decided once in the parent):

* counts (``--max-in-flight``, the wait queue, an explicit ``--max-connections``, a token's
  ``rpm``/``tpm``) are divided so that the shares sum to the limit exactly: worker ``i``
  gets ``limit // N`` plus one of the remainder when ``i < limit % N``. A token's rate
  share may be 0 on some workers (``rpm=1`` on 2 workers): that worker refuses it, the
  total still holds.
* amounts of money (``SARVANOM_BUDGET_USD``, a token's ``usd``) are divided evenly.
* bulkheads (``SARVANOM_MAX_CONCURRENCY``, per provider) protect a provider's capacity,
  not a budget: they are divided the same way, but never below one call per worker (a
  worker with none could never use that provider); when a provider's limit is below N the
  start-up lines say so.

With ``SARVANOM_REDIS_URL`` the cost budget and the token limits are shared through Redis
and stay whole; the gate, the connection cap and the bulkheads are per process always.
The gateway-wide limits (gate, connections) must allow every worker at least one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigurationError
from ..settings import DEFAULT_CONCURRENCY, Settings
from ..types import ProviderName
from .limits import Limits


@dataclass(frozen=True, slots=True)
class Share:
    """Worker ``index`` (0-based) of ``workers``."""

    index: int
    workers: int

    def count(self, total: int) -> int:
        """This worker's part of ``total``; the parts of all workers sum to ``total``."""
        base, extra = divmod(total, self.workers)
        return base + (1 if self.index < extra else 0)

    def amount(self, total: float) -> float:
        return total / self.workers


WHOLE = Share(0, 1)


def check_workers(limits: Limits, workers: int) -> None:
    """ConfigurationError when a gateway-wide limit cannot give each worker one."""
    if workers < 1:
        raise ConfigurationError("workers", f"must be at least 1, got {workers}")
    for name, option in (("max_in_flight", "--max-in-flight"),
                         ("max_connections", "--max-connections")):
        value = getattr(limits, name)
        if value and value < workers:
            raise ConfigurationError(
                option,
                f"{value} is less than --workers {workers}: each worker needs at least one "
                f"(raise {option} or lower --workers)",
            )


def limits_share(limits: Limits, share: Share) -> Limits:
    """The gateway limits one worker applies."""
    if share.workers == 1:
        return limits
    return replace(
        limits,
        max_in_flight=share.count(limits.max_in_flight),
        max_waiting=share.count(limits.max_waiting),
        max_connections=share.count(limits.max_connections) if limits.max_connections else 0,
    )


def settings_share(settings: Settings, share: Share) -> dict[str, Any]:
    """Settings overrides for one worker's client: the cost budget (unless shared through
    Redis) and the bulkheads."""
    if share.workers == 1:
        return {}
    overrides: dict[str, Any] = {}
    if settings.budget_usd is not None and not settings.redis_url:
        overrides["budget_usd"] = share.amount(settings.budget_usd)
    limits = {p: settings.concurrency_limit(p) for p in DEFAULT_CONCURRENCY}
    overrides["max_concurrency"] = ",".join(
        f"{p.value}={max(1, share.count(n))}" for p, n in limits.items()
    )
    return overrides


def keyring_share(keyring: Any, share: Share, shared: bool) -> Any:
    """The token keyring (:class:`.tokens.Keyring`) with each token's limits cut to this
    worker's share; unchanged when the limits are shared through Redis."""
    if share.workers == 1 or shared:
        return keyring
    from .tokens import Keyring

    return Keyring([replace(t, limits=_token_share(t.limits, share)) for t in keyring.tokens])


def _token_share(limits: Any, share: Share) -> Any:
    def count(value: int | None) -> int | None:
        return None if value is None else share.count(value)

    return replace(
        limits,
        requests_per_minute=count(limits.requests_per_minute),
        tokens_per_minute=count(limits.tokens_per_minute),
        budget_usd=None if limits.budget_usd is None else share.amount(limits.budget_usd),
    )


def describe(
    limits: Limits, settings: Settings, keyring: Any, workers: int, tokens_shared: bool
) -> list[str]:
    """The start-up lines that say how the limits were split (empty for one worker)."""
    if workers == 1:
        return []
    per = f"split across {workers} workers"
    lines = [
        f"--max-in-flight {limits.max_in_flight}: {per} "
        f"({_counts(limits.max_in_flight, workers)})"
    ]
    if limits.max_connections:
        lines.append(
            f"--max-connections {limits.max_connections}: {per} "
            f"({_counts(limits.max_connections, workers)})"
        )
    if settings.budget_usd is not None:
        lines.append(
            f"SARVANOM_BUDGET_USD {settings.budget_usd:g}: shared through Redis"
            if settings.redis_url
            else f"SARVANOM_BUDGET_USD {settings.budget_usd:g}: {per} "
            f"({settings.budget_usd / workers:g} each; set SARVANOM_REDIS_URL to share it)"
        )
    if keyring is not None and any(_limited(t.limits) for t in keyring.tokens):
        lines.append(
            "token limits: shared through Redis"
            if tokens_shared
            else f"token limits (rpm, tpm, usd): {per} (set SARVANOM_REDIS_URL to share them)"
        )
    small = [
        f"{p.value}={settings.concurrency_limit(p)}"
        for p in DEFAULT_CONCURRENCY
        if settings.concurrency_limit(p) < workers and _active(settings, p)
    ]
    if small:
        lines.append(
            f"warning: SARVANOM_MAX_CONCURRENCY {', '.join(small)} is below --workers "
            f"{workers}: each worker keeps one call, so up to {workers} may be in flight"
        )
    return [f"workers: {line}" for line in lines]


def _counts(total: int, workers: int) -> str:
    parts = sorted({Share(i, workers).count(total) for i in range(workers)}, reverse=True)
    return "/".join(str(p) for p in parts) + " per worker"


def _limited(limits: Any) -> bool:
    return any(
        v is not None
        for v in (limits.requests_per_minute, limits.tokens_per_minute, limits.budget_usd)
    )


def _active(settings: Settings, provider: ProviderName) -> bool:
    from ..chain import active_chain

    return provider in active_chain(settings)
