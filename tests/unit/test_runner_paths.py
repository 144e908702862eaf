"""Issue 18 goal 1: ``run``/``arun`` (the loop of a ``complete()`` as a plain function and
a plain coroutine, no generator per call) give the same answer, attempt trail, health and
breaker state as the general drivers ``drive``/``adrive`` on the same scripts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes import HANG, Harness, reply

from sarvanom_sdk.errors import ProviderConnectionError, ServerError
from sarvanom_sdk.http import HttpReply
from sarvanom_sdk.runners import adrive, arun, drive, run
from sarvanom_sdk.types import LLMRequest, ProviderName

OLLAMA, GPU = ProviderName.OLLAMA_LOCAL, ProviderName.REMOTE_GPU


class AsyncOver:
    """The fake transport behind the async contract (each call awaits once)."""

    def __init__(self, sync: Any) -> None:
        self.sync = sync

    async def send(self, call: Any, timeout: float) -> HttpReply:
        await asyncio.sleep(0)
        return self.sync.send(call, timeout)  # type: ignore[no-any-return]


def _last(items: Any) -> Any:
    item = None
    for item in items:  # noqa: B007
        pass
    return item


async def _alast(items: Any) -> Any:
    item = None
    async for item in items:  # noqa: B007
        pass
    return item


SCRIPTS: dict[str, list[tuple[ProviderName, tuple[Any, ...]]]] = {
    "answered at once": [],
    "retried then answered": [(OLLAMA, (ServerError("HTTP 503"),))],
    "fell back after failures": [
        (OLLAMA, (ProviderConnectionError("refused"), ProviderConnectionError("refused")))
    ],
    "timed out then fell back": [(OLLAMA, (HANG, HANG))],
    "every provider failed": [
        (OLLAMA, (reply(500, "x"), reply(500, "x"))),
        (GPU, (reply(401, "no"),)),
    ],
}


def _outcome(how: str, script: list[tuple[ProviderName, tuple[Any, ...]]]) -> Any:
    harness = Harness((OLLAMA, GPU), max_retries=1)
    for provider, outcomes in script:
        harness.transport.script(provider, *outcomes)
    router, transport, clock = harness.router, harness.transport, harness.clock
    request = LLMRequest(prompt="hello", cache=False, trace_id="t")
    flow = router.complete_flow(request)

    async def asleep(seconds: float) -> None:
        clock.advance(seconds)

    if how == "run":
        response = run(flow, transport, clock.advance)
    elif how == "drive":
        response = _last(drive(flow, transport, clock.advance))
    elif how == "arun":
        response = asyncio.run(arun(flow, AsyncOver(transport), asleep))  # type: ignore[arg-type]
    else:
        response = asyncio.run(_alast(adrive(flow, AsyncOver(transport), asleep)))  # type: ignore[arg-type]
    health = {
        name: (h.status, h.success_count, h.error_count, h.last_error)
        for name, h in router.health.snapshot({}).items()
    }
    breakers = {p: c.view() for p, c in harness.circuits.items()}
    return response, health, breakers, transport.calls


@pytest.mark.parametrize("scenario", sorted(SCRIPTS))
def test_issue18_run_and_arun_match_the_general_drivers(scenario: str) -> None:
    script = SCRIPTS[scenario]
    general, general_health, general_breakers, general_calls = _outcome("drive", script)
    for how in ("run", "arun", "adrive"):
        response, health, breakers, calls = _outcome(how, script)
        assert response == general, how
        assert response.attempts == general.attempts and response.attempts, how
        assert health == general_health, how
        assert breakers == general_breakers, how
        assert calls == general_calls, how


def test_issue18_the_scenarios_differ_from_one_another() -> None:
    """The parity test above compares something: the scenarios end differently."""
    trails = {name: _outcome("run", script)[0].attempts for name, script in SCRIPTS.items()}
    shapes = {tuple((a.provider, a.outcome, a.reason) for a in t) for t in trails.values()}
    assert len(shapes) == len(SCRIPTS)
