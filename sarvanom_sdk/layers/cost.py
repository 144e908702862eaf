"""The cost gate: paid providers only when paid use is enabled, within an optional budget.

Prices are USD per million tokens (input, output), from the providers' public price
lists. A paid model missing from the table is priced at :data:`UNKNOWN_PAID_PRICE`, on
purpose high, so a budget is never overrun by a model the table does not know.

Before a paid call the gate estimates its worst case — the prompt's tokens (about four
characters a token) plus ``max_tokens`` — and, with a budget, *reserves* it atomically:
the provider is skipped if the reservation would take the spend (booked plus reserved)
past the budget. After the call the reservation is *settled* to the real cost, from the
reply's usage; a call that failed before the provider could generate anything *releases*
it. A call the provider may have billed without our seeing its usage — a paid stream
abandoned, cancelled or cut, an attempt that timed out, a cancelled hedge loser — is
*forfeited* (F8): it books at least its whole reservation, or what it delivered when that
is more (completion tokens estimated at four characters a token when the provider sent no
usage). The reservation is the honest bound: a provider keeps generating, and billing, up to
``max_tokens`` until it notices the caller left. So concurrent callers
never overrun the budget by more than one request's cost (its real cost above its
estimate). The ledger is local (a lock) or shared between processes
(:class:`sarvanom_sdk.shared_state.ledger.SharedBudgetLedger`), with the same API.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..types import PAID_PROVIDERS, LLMRequest, ProviderName, Usage

#: USD per 1M tokens: (input, output).
PRICES_PER_MTOK: Mapping[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "claude-3-5-haiku-20241022": (0.80, 4.00),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-3-5-sonnet-20241022": (3.00, 15.00),
    "claude-3-7-sonnet-20250219": (3.00, 15.00),
    "claude-sonnet-4-20250514": (3.00, 15.00),
    # embeddings: input tokens only (issue 15 item 1)
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}
UNKNOWN_PAID_PRICE = (15.00, 75.00)


_BY_LENGTH = sorted(PRICES_PER_MTOK, key=len, reverse=True)


def price_of(model: str) -> tuple[float, float]:
    """The model's price; a dated variant ("gpt-4o-mini-2024-07-18") takes its family's."""
    price = PRICES_PER_MTOK.get(model)
    if price is not None:
        return price
    for known in _BY_LENGTH:
        if model.startswith(known):
            return PRICES_PER_MTOK[known]
    return UNKNOWN_PAID_PRICE


#: The most tokens one count is believed to hold (the adapters clamp to the same bound).
_MAX_TOKENS = 10**9


def cost_usd(model: str, usage: Usage) -> float:
    """USD for ``usage``; never negative and always finite (F15): counts are clamped to
    ``0..10**9`` here too, whoever built the Usage."""
    per_in, per_out = price_of(model)
    prompt = min(max(usage.prompt_tokens, 0), _MAX_TOKENS)
    completion = min(max(usage.completion_tokens, 0), _MAX_TOKENS)
    return (prompt * per_in + completion * per_out) / 1_000_000


def estimate_usd(model: str, request: LLMRequest) -> float:
    prompt_tokens = request.prompt_chars() // 4 + 16
    return cost_usd(model, Usage(prompt_tokens, request.max_tokens))


@dataclass(frozen=True, slots=True)
class Hold:
    """Money set aside for one call (USD); :data:`NO_HOLD` when nothing was reserved."""

    amount_usd: float = 0.0


NO_HOLD = Hold()


class Ledger(Protocol):
    """Spend against an optional budget. ``reserve`` is atomic with respect to every other
    ``reserve``/``settle`` of the same ledger (across processes for a shared one)."""

    budget_usd: float | None

    @property
    def spent_usd(self) -> float: ...

    def remaining(self) -> float | None:
        """Budget minus spent and reserved (None without a budget)."""

    def reserve(self, amount: float) -> Hold | None:
        """Set ``amount`` aside, or None when that would pass the budget."""

    def settle(self, hold: Hold, amount: float) -> None:
        """Replace ``hold`` by the real cost ``amount``."""

    def release(self, hold: Hold) -> None:
        """Give ``hold`` back (the call cost nothing)."""

    def book(self, amount: float) -> None:
        """Add ``amount`` to the spend without a reservation."""


class BudgetLedger:
    """Spend so far and money reserved for calls in flight, under a lock (this process)."""

    def __init__(self, budget_usd: float | None) -> None:
        self.budget_usd = budget_usd
        self._spent = 0.0
        self._held = 0.0
        self._lock = threading.Lock()

    @property
    def spent_usd(self) -> float:
        return self._spent

    def remaining(self) -> float | None:
        return None if self.budget_usd is None else self.budget_usd - self._spent - self._held

    def reserve(self, amount: float) -> Hold | None:
        with self._lock:
            if self.budget_usd is not None and self._spent + self._held + amount > self.budget_usd:
                return None
            self._held += amount
        return Hold(amount)

    def settle(self, hold: Hold, amount: float) -> None:
        with self._lock:
            self._held -= hold.amount_usd
            self._spent += amount

    def release(self, hold: Hold) -> None:
        self.settle(hold, 0.0)

    def book(self, amount: float) -> None:
        with self._lock:
            self._spent += amount


class CostGate:
    def __init__(self, enable_paid_api: bool, ledger: Ledger) -> None:
        self.enable_paid_api = enable_paid_api
        self.ledger = ledger

    def hold(self, provider: ProviderName, model: str, request: LLMRequest) -> Hold | str:
        """A :class:`Hold` when ``provider`` may be called for ``request`` (its worst case
        reserved when there is a budget), else why not. Every Hold returned must be given
        to :meth:`settle` or :meth:`release` exactly once."""
        if provider not in PAID_PROVIDERS:
            return NO_HOLD
        if not self.enable_paid_api:
            return "paid API disabled (ENABLE_PAID_API is not true)"
        if self.ledger.budget_usd is None:
            return NO_HOLD
        estimate = estimate_usd(model, request)
        held = self.ledger.reserve(estimate)
        if held is None:
            left = self.ledger.remaining() or 0.0
            return f"budget: estimated ${estimate:.6f} exceeds ${max(left, 0):.6f} left"
        return held

    def settle(self, hold: Hold, provider: ProviderName, model: str, usage: Usage | None) -> float:
        """Book a call's real cost (from ``usage``) in place of ``hold``; returns it (0 for
        free providers and for replies without usage)."""
        amount = 0.0
        if provider in PAID_PROVIDERS and usage is not None:
            amount = cost_usd(model, usage)
        if hold is not NO_HOLD:
            self.ledger.settle(hold, amount)
        elif amount:
            self.ledger.book(amount)
        return amount

    def release(self, hold: Hold | None) -> None:
        """Give back a hold whose call cost nothing (failed before any generation)."""
        if hold is not None and hold is not NO_HOLD:
            self.ledger.release(hold)

    def forfeit(
        self,
        hold: Hold,
        provider: ProviderName,
        model: str,
        request: LLMRequest,
        delivered_chars: int = 0,
        usage: Usage | None = None,
    ) -> float:
        """Book a call that ended without a clean answer but may have been billed (F8):
        the larger of its whole reservation and what it delivered (``usage`` when the
        provider sent it, else the prompt's estimate plus ``delivered_chars / 4``
        completion tokens, rounded up). Returns the amount booked (0 for free providers)."""
        if provider not in PAID_PROVIDERS:
            self.release(hold)
            return 0.0
        if usage is None:
            usage = Usage(request.prompt_chars() // 4 + 16, -(-delivered_chars // 4))
        amount = max(cost_usd(model, usage), hold.amount_usd)
        if hold is not NO_HOLD:
            self.ledger.settle(hold, amount)
        elif amount:
            self.ledger.book(amount)
        return amount
