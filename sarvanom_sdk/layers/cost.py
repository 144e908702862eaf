"""The cost gate: paid providers only when paid use is enabled, within an optional budget.

Prices are USD per million tokens (input, output), from the providers' public price
lists. A paid model missing from the table is priced at :data:`UNKNOWN_PAID_PRICE`, on
purpose high, so a budget is never overrun by a model the table does not know.

Before a paid call the gate estimates its worst case — the prompt's tokens (about four
characters a token) plus ``max_tokens`` — and skips the provider if that exceeds what is
left of the budget. After the call the real cost, from the reply's usage, is booked.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

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


def cost_usd(model: str, usage: Usage) -> float:
    per_in, per_out = price_of(model)
    return (usage.prompt_tokens * per_in + usage.completion_tokens * per_out) / 1_000_000


def estimate_usd(model: str, request: LLMRequest) -> float:
    prompt_tokens = request.prompt_chars() // 4 + 16
    return cost_usd(model, Usage(prompt_tokens, request.max_tokens))


class BudgetLedger:
    """Spend so far, booked under a lock. (Issue: a Redis ledger shares it between processes.)"""

    def __init__(self, budget_usd: float | None) -> None:
        self.budget_usd = budget_usd
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent_usd(self) -> float:
        return self._spent

    def remaining(self) -> float | None:
        return None if self.budget_usd is None else self.budget_usd - self._spent

    def book(self, amount: float) -> None:
        with self._lock:
            self._spent += amount


class CostGate:
    def __init__(self, enable_paid_api: bool, ledger: BudgetLedger) -> None:
        self.enable_paid_api = enable_paid_api
        self.ledger = ledger

    def refuse(self, provider: ProviderName, model: str, request: LLMRequest) -> str | None:
        """Why ``provider`` may not be called for ``request`` (None: it may)."""
        if provider not in PAID_PROVIDERS:
            return None
        if not self.enable_paid_api:
            return "paid API disabled (ENABLE_PAID_API is not true)"
        left = self.ledger.remaining()
        if left is not None:
            estimate = estimate_usd(model, request)
            if estimate > left:
                return f"budget: estimated ${estimate:.6f} exceeds ${max(left, 0):.6f} left"
        return None

    def book(self, provider: ProviderName, model: str, usage: Usage | None) -> float:
        """Book a paid call's real cost; returns it (0 for free providers)."""
        if provider not in PAID_PROVIDERS or usage is None:
            return 0.0
        amount = cost_usd(model, usage)
        self.ledger.book(amount)
        return amount
