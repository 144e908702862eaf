"""Issue 12, F2: a client created (and used) before ``os.fork()`` shares no socket, pool,
thread pool or event-loop object with the child. Every answer reaches the process and the
caller that asked; hedging works in the child; the parent keeps working after a child
made requests and dropped the client.

Real forks (``os.fork`` and multiprocessing's ``fork`` context), parent and children
asking at the same time from several threads, many rounds. The emulator answers
``Emulated <provider> answer to: <prompt>``, so each answer is checked against the exact
prompt that caller sent. At commit 44ee82a, a warm keep-alive socket shared by parent and
children crossed answers between processes, and a hedged call in a child waited out its
deadline (the inherited hedge pool has no threads) and returned the stub."""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sarvanom_sdk import AsyncSarvanClient, ProviderName, SarvanClient
from sarvanom_sdk.testing import Fault, ProviderEmulator

from .helpers import chain

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILDREN = 3
THREADS = 2
ROUNDS = 15
#: Generous: a crossed or lost answer shows as a wrong answer, never as a slow one.
PATIENT = {
    "attempt_timeout": 15.0, "first_token_timeout": 15.0, "total_timeout": 30.0,
    "connect_timeout": 5.0,
}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as made:
        yield made


def settings(emu: ProviderEmulator, *names: str, **overrides: Any) -> dict[str, Any]:
    return {"env_file": None, **chain(emu, *names, **{**PATIENT, **overrides})}


def wrong(prompt: str, response: Any, provider: str = "ollama_local") -> str | None:
    """Why ``response`` is not the answer to ``prompt`` from ``provider`` (None if it is)."""
    if response.provider.value != provider or not response.content.endswith(f"to: {prompt}"):
        return f"asked {prompt!r}, got {response.provider.value}: {response.content[-60:]!r}"
    return None


def ask_sync(client: SarvanClient, tag: str) -> list[str]:
    """THREADS threads each ask ROUNDS prompts; the problems seen (empty: all good)."""
    problems: list[str] = []

    def worker(thread: int) -> None:
        for n in range(ROUNDS):
            prompt = f"{tag}-t{thread}-r{n}"
            try:
                problem = wrong(prompt, client.complete(prompt, cache=False))
            except Exception as error:  # noqa: BLE001 - a child reports, never raises
                problem = f"{prompt}: {type(error).__name__}"
            if problem:
                problems.append(problem)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


async def ask_async(client: AsyncSarvanClient, tag: str) -> list[str]:
    async def one(prompt: str) -> str | None:
        try:
            return wrong(prompt, await client.complete(prompt, cache=False))
        except Exception as error:  # noqa: BLE001
            return f"{prompt}: {type(error).__name__}"

    problems: list[str] = []
    for n in range(ROUNDS):
        found = await asyncio.gather(*(one(f"{tag}-t{t}-r{n}") for t in range(THREADS)))
        problems += [p for p in found if p]
    return problems


# -- running code in a forked child --------------------------------------------------------
def in_child(body: Any) -> tuple[int, int]:
    """Fork; the child runs ``body()`` (a JSON-able result) and exits at once, never
    returning into pytest. Returns (pid, read end of the pipe carrying the result)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(read_end)
            result = {"result": body()}
        except BaseException as error:  # noqa: BLE001
            result, code = {"error": f"{type(error).__name__}: {error}"}, 1
        try:
            with os.fdopen(write_end, "w") as out:
                json.dump(result, out)
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def child_result(pid: int, read_end: int) -> Any:
    """What the child's ``body()`` returned (AssertionError if it raised or died)."""
    with os.fdopen(read_end) as source:
        text = source.read()  # EOF when the child exits
    _, status = os.waitpid(pid, 0)
    assert text, f"the child died without a result (exit {os.waitstatus_to_exitcode(status)})"
    outcome = json.loads(text)
    assert "error" not in outcome, f"in the child: {outcome['error']}"
    return outcome["result"]


# -- the tests -----------------------------------------------------------------------------
def test_f2_sync_answers_never_cross_between_parent_and_forked_children(emu):
    client = SarvanClient(**settings(emu, "ollama"))
    try:
        assert wrong("warm-up", client.complete("warm-up", cache=False)) is None
        children = [
            in_child(lambda i=i: ask_sync(client, f"c{i}-{os.getpid()}"))
            for i in range(CHILDREN)
        ]
        problems = ask_sync(client, "parent")
        for pid, read_end in children:
            problems += child_result(pid, read_end)
    finally:
        client.close()
    assert problems == [], f"{len(problems)} wrong answers, e.g. {problems[:3]}"


def _mp_worker(client: Any, tag: str, results: Any) -> None:
    if isinstance(client, AsyncSarvanClient):
        results.put((tag, asyncio.run(ask_async(client, tag))))
    else:
        results.put((tag, ask_sync(client, tag)))


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_f2_multiprocessing_fork_workers_get_their_own_answers(emu, kind):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    if kind == "sync":
        client: Any = SarvanClient(**settings(emu, "ollama"))
        assert wrong("warm-up", client.complete("warm-up", cache=False)) is None
    else:
        client = AsyncSarvanClient(**settings(emu, "ollama"))
        assert asyncio.run(ask_async(client, "warm-up")) == []
    workers = [
        context.Process(target=_mp_worker, args=(client, f"w{i}", results))
        for i in range(CHILDREN)
    ]
    for worker in workers:
        worker.start()
    if kind == "sync":
        problems = ask_sync(client, "parent")
    else:
        problems = asyncio.run(ask_async(client, "parent"))
    answered = {}
    for _ in workers:
        tag, found = results.get(timeout=120)
        answered[tag] = found
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    problems += [p for found in answered.values() for p in found]
    assert sorted(answered) == [f"w{i}" for i in range(CHILDREN)]
    assert problems == [], f"{len(problems)} wrong answers, e.g. {problems[:3]}"


def test_f2_async_fork_inside_a_running_loop_leaves_the_parent_working(emu):
    """Fork while the parent's loop runs with a pooled connection: the child makes its own
    session (in its own loop), then drops the client; the parent's connections and loop
    are untouched (the child never closes them through the shared epoll set)."""
    client = AsyncSarvanClient(**settings(emu, "ollama"))

    def child() -> list[str]:
        problems = asyncio.run(ask_async(client, f"child-{os.getpid()}"))
        global _dropped
        _dropped = None
        gc.collect()
        return problems

    async def parent() -> list[str]:
        problems = await ask_async(client, "before")
        pid, read_end = in_child(child)
        problems += await ask_async(client, "during")
        loop = asyncio.get_running_loop()
        problems += await loop.run_in_executor(None, child_result, pid, read_end)
        problems += await ask_async(client, "after")  # on the same pooled connections
        await client.close()
        return problems

    problems = asyncio.run(parent())
    assert problems == [], f"{len(problems)} wrong answers, e.g. {problems[:3]}"


_dropped: Any = None


def test_f2_child_drops_the_inherited_client_without_touching_the_parent(emu):
    """The child never uses the client, only lets it go (and so its finalizers run): the
    parent's session, made in its running loop, keeps answering."""

    async def parent() -> list[str]:
        global _dropped
        _dropped = AsyncSarvanClient(**settings(emu, "ollama"))
        problems = await ask_async(_dropped, "before")

        def child() -> list[str]:
            global _dropped
            _dropped = None
            gc.collect()
            return []

        pid, read_end = in_child(child)
        loop = asyncio.get_running_loop()
        problems += await loop.run_in_executor(None, child_result, pid, read_end)
        problems += await ask_async(_dropped, "after")
        await _dropped.close()
        return problems

    problems = asyncio.run(parent())
    assert problems == [], f"{len(problems)} wrong answers, e.g. {problems[:3]}"


def test_f2_hedged_call_in_a_forked_child_answers_from_a_provider(emu):
    """The parent hedges first (its hedge pool has threads); the child's hedged call must
    run on a pool of its own and be answered by the backup, not wait out its deadline."""
    emu.inject("ollama", Fault.delay(2.0))
    try:
        client = SarvanClient(
            **settings(emu, "ollama", "huggingface", hedge=True, hedge_delay=0.05,
                       total_timeout=8.0)
        )
        parent = client.complete("hedge-parent", cache=False)
        assert wrong("hedge-parent", parent, "huggingface") is None

        def child() -> list[str]:
            response = client.complete(f"hedge-child-{os.getpid()}", cache=False)
            problem = wrong(f"hedge-child-{os.getpid()}", response, "huggingface")
            return [problem] if problem else []

        problems = child_result(*in_child(child))
        client.close()
    finally:
        emu.clear()
    assert problems == []


def test_f2_hedge_pool_is_renewed_in_the_child():
    from sarvanom_sdk import runners

    parent_pool = runners._pool()
    assert parent_pool.submit(lambda: 1).result(5) == 1

    def child() -> list[Any]:
        pool = runners._pool()
        return [pool is not parent_pool, pool.submit(os.getpid).result(5) == os.getpid()]

    assert child_result(*in_child(child)) == [True, True]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_f2_transport_lets_go_of_the_parents_pool_in_the_child(emu, kind):
    if kind == "sync":
        client: Any = SarvanClient(**settings(emu, "ollama"))
        client.complete("warm-up", cache=False)
        before = client._transport._session
    else:
        client = AsyncSarvanClient(**settings(emu, "ollama"))

    async def warm() -> Any:
        await client.complete("warm-up", cache=False)
        return client._transport._session

    if kind == "async":
        loop = asyncio.new_event_loop()
        before = loop.run_until_complete(warm())

    def child() -> bool:
        return client._transport._session is not before

    assert child_result(*in_child(child)) is True
    if kind == "async":
        assert not before.closed  # the parent's session is still open and usable
        assert loop.run_until_complete(client.complete("after", cache=False)).provider is (
            ProviderName.OLLAMA_LOCAL
        )
        loop.run_until_complete(client.close())
        loop.close()
    else:
        client.close()
