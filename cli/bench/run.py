"""A whole ``sarvanom-bench`` run: for each provider, warm up, then measure the SDK and
(with ``--vs-raw``) the same endpoint raw, into a :class:`Result`.

Order per provider: warm-up of every side, then the SDK phase and (``--vs-raw``) the raw
phase, in alternating blocks so that drift on a busy machine hits both sides alike. The
result is filled as outcomes arrive, so after ``KeyboardInterrupt`` it holds everything
measured so far (the interrupted block included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import calls
from .drive import Progress, drive_async, drive_sync
from .stats import Outcome, Phase, Row

#: With ``--vs-raw`` each side runs in this many blocks, alternating SDK and raw.
BLOCKS = 5


@dataclass(frozen=True)
class Plan:
    """What to measure; ``options`` are the ``complete()`` keywords (prompt, max_tokens)."""

    providers: tuple[str, ...]
    requests: int
    concurrency: int
    warmup: int
    client: str  # "sync" | "async"
    stream: bool
    vs_raw: bool
    options: dict[str, Any]

    @property
    def sides(self) -> tuple[str, ...]:
        return ("sdk", "raw") if self.vs_raw else ("sdk",)

    def blocks(self) -> list[int]:
        """Request counts of the blocks each side runs in: one block, or with ``--vs-raw``
        up to :data:`BLOCKS` alternating with the raw side's (so drift hits both)."""
        parts = min(BLOCKS, self.requests) if self.vs_raw else 1
        base, extra = divmod(self.requests, parts)
        return [base + (1 if i < extra else 0) for i in range(parts)]

    @property
    def total(self) -> int:
        """Measured requests in the whole run (warm-ups excluded)."""
        return len(self.providers) * len(self.sides) * self.requests


@dataclass
class Result:
    """Phases by provider and side, in measuring order; ``interrupted`` after Ctrl-C."""

    phases: dict[str, dict[str, Phase]] = field(default_factory=dict)
    interrupted: bool = False

    def recorder(self, provider: str, side: str, progress: Progress) -> Callable[[Outcome], None]:
        """Start a block of the provider's ``side`` phase; the returned callable records one
        outcome into it."""
        phase = self.phases.setdefault(provider, {}).setdefault(side, Phase())
        phase.begin()
        progress.start(provider, side)
        add, advance = phase.add, progress.advance

        def record(outcome: Outcome) -> None:
            add(outcome)
            advance(outcome.ok)

        return record

    def measured(self) -> int:
        return sum(len(p.outcomes) for sides in self.phases.values() for p in sides.values())

    def rows(self) -> list[Row]:
        """One row per provider with at least one SDK outcome."""
        out = []
        for provider, sides in self.phases.items():
            sdk = sides.get("sdk")
            if sdk is None or not sdk.outcomes:
                continue
            raw = sides.get("raw")
            out.append(Row(provider, sdk.summary(), raw.summary() if raw else None))
        return out


def _ignore(outcome: Outcome) -> None:
    """Warm-up outcomes are not recorded."""


def raw_call(settings: Any, provider: str, plan: Plan) -> Any:
    """The ``HttpCall`` the SDK's adapter builds for this plan's request (to the first of
    the provider's base URLs when it lists several)."""
    from sarvanom_sdk import LLMRequest, ProviderName
    from sarvanom_sdk.providers import adapter_for

    name = ProviderName(provider)
    urls = settings.endpoint_urls(name)
    field = _URL_FIELDS.get(name.value)
    if field is not None and len(urls) > 1:
        settings = settings.replace(**{field: urls[0]})
    request = LLMRequest(**plan.options)
    return adapter_for(name, settings).build(request, stream=plan.stream)


#: Settings fields that may list several base URLs, comma-separated.
_URL_FIELDS = {"ollama_local": "ollama_base_url", "remote_gpu": "gpu_remote_url"}


def _steps(
    settings: Any, plan: Plan, result: Result, progress: Progress, make: Any, raw_session: Any
) -> Iterator[tuple[Any, int, Callable[[Outcome], None]]]:
    """The run as ``(call, count, record)`` steps: per provider, each side's warm-up, then
    each side measured. ``make`` is the client kind's pair of factories: the SDK call for
    a provider, and the raw call for a session, an ``HttpCall``, a timeout and ``stream``."""
    sdk_factory, raw_factory = make
    for provider in plan.providers:
        sides = {"sdk": sdk_factory(provider)}
        if raw_session is not None:
            call = raw_call(settings, provider, plan)
            sides["raw"] = raw_factory(raw_session, call, settings.attempt_timeout, plan.stream)
        for one in sides.values():
            yield one, plan.warmup, _ignore
        for count in plan.blocks():
            for side, one in sides.items():
                yield one, count, result.recorder(provider, side, progress)


def run_sync(settings: Any, plan: Plan, result: Result, progress: Progress) -> None:
    """Measure with ``SarvanClient`` (threads when concurrency > 1) and ``requests``."""
    from sarvanom_sdk import SarvanClient

    client = SarvanClient(settings)
    session = calls.raw_session(plan.concurrency) if plan.vs_raw else None
    make = (lambda p: calls.sdk_sync(client, p, plan.options, plan.stream), calls.raw_sync)
    try:
        for one, count, record in _steps(settings, plan, result, progress, make, session):
            drive_sync(one, count, plan.concurrency, record)
    finally:
        client.close()
        if session is not None:
            session.close()


async def run_async(settings: Any, plan: Plan, result: Result, progress: Progress) -> None:
    """Measure with ``AsyncSarvanClient`` and ``aiohttp`` on the running event loop."""
    from sarvanom_sdk import AsyncSarvanClient

    client = AsyncSarvanClient(settings)
    session = calls.raw_async_session() if plan.vs_raw else None
    make = (lambda p: calls.sdk_async(client, p, plan.options, plan.stream), calls.raw_async)
    try:
        for one, count, record in _steps(settings, plan, result, progress, make, session):
            await drive_async(one, count, plan.concurrency, record)
    finally:
        await client.close()
        if session is not None:
            await session.close()
