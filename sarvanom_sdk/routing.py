"""Routing policies: in which order a request tries the providers, whether it is hedged,
and what a provider's rate-limit headers say about calling it again.

Policies (``SARVANOM_ROUTING_POLICY``):

* ``priority`` (default): the chain's order, free first (the seed's order).
* ``latency``: the free providers by their best endpoint's recent latency (untried ones
  first, so each gets measured); paid providers stay last, in chain order.

A request's ``tier`` overrides the policy with the seed's preference ("simple queries:
local; complex: remote GPU; critical: paid"):

=========  ==========================================================================
simple     ollama_local, remote_gpu, huggingface, openai, anthropic
complex    remote_gpu, huggingface, ollama_local, openai, anthropic
critical   openai, anthropic, remote_gpu, huggingface, ollama_local (paid only if enabled)
=========  ==========================================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone

from .types import PAID_PROVIDERS, LLMRequest, ProviderName

_P = ProviderName
TIER_ORDER: Mapping[str, tuple[ProviderName, ...]] = {
    "simple": (_P.OLLAMA_LOCAL, _P.REMOTE_GPU, _P.HUGGINGFACE, _P.OPENAI, _P.ANTHROPIC),
    "complex": (_P.REMOTE_GPU, _P.HUGGINGFACE, _P.OLLAMA_LOCAL, _P.OPENAI, _P.ANTHROPIC),
    "critical": (_P.OPENAI, _P.ANTHROPIC, _P.REMOTE_GPU, _P.HUGGINGFACE, _P.OLLAMA_LOCAL),
}
#: Recent successful calls a provider needs before its p95 is trusted as a hedge delay.
MIN_SAMPLES_FOR_HEDGE = 5


def order_providers(
    chain: Sequence[ProviderName],
    request: LLMRequest,
    policy: str,
    latency_of: Callable[[ProviderName], float | None],
) -> tuple[ProviderName, ...]:
    """The chain's providers in the order ``request`` should try them."""
    if request.tier is not None:
        rank = {p: i for i, p in enumerate(TIER_ORDER[request.tier])}
        return tuple(sorted(chain, key=lambda p: rank.get(p, len(rank))))
    if policy == "latency":
        free = [p for p in chain if p not in PAID_PROVIDERS]
        paid = [p for p in chain if p in PAID_PROVIDERS]
        free.sort(key=lambda p: latency_of(p) or 0.0)
        return (*free, *paid)
    return tuple(chain)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds until a rate-limit reset: ``"20"``, ``"1.5s"``, ``"6m0s"``, ``"250ms"``, a
    Unix time (seconds, or milliseconds past 1e12), or an RFC 3339 time (Anthropic). None
    when absent, unreadable or not finite."""
    if not value:
        return None
    value = value.strip()
    now = now or datetime.now(timezone.utc)
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            return None
        if number > 1e12:
            number /= 1000.0  # a Unix time in milliseconds
        return max(0.0, number - now.timestamp()) if number > 1e9 else max(0.0, number)
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        return sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - now).total_seconds())


_QUOTA_HEADERS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
)
_RESET_KEYS = frozenset(reset for _, reset in _QUOTA_HEADERS)


def quota_exhausted_for(
    headers: Mapping[str, str],
    status: int,
    clock: Callable[[], datetime] | None = None,
) -> float | None:
    """Seconds the provider's own headers (lower-case names) say it will refuse calls
    (None: no such word).

    A quota whose ``remaining`` is 0 is exhausted until its reset; a 429 names its reset
    in ``x-ratelimit-reset*`` even without a ``remaining`` header.
    """
    if _RESET_KEYS.isdisjoint(headers):  # the common case: no reset header at all
        return None
    longest: float | None = None
    now: datetime | None = None
    for remaining_key, reset_key in _QUOTA_HEADERS:
        remaining = headers.get(remaining_key)
        reset = headers.get(reset_key)
        if reset is None or (remaining is None and status != 429):
            continue
        if remaining is not None and remaining.strip() not in ("0", "0.0"):
            continue
        if now is None:  # read the clock only when a reset is to be computed
            now = clock() if clock is not None else datetime.now(timezone.utc)
        seconds = parse_reset(reset, now)
        if seconds is not None and (longest is None or seconds > longest):
            longest = seconds
    return longest
