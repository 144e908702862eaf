"""Worker processes for the scale-out tests, started with ``spawn`` like separate pods.

Each worker builds its own :class:`SarvanClient` (from the environment the test process
has — canary keys included — plus explicit overrides, never a ``.env`` file) and runs
commands sent by the test: ``build``, ``complete``, ``together`` (wait on a barrier shared
by all workers, then complete: they call at the same moment), ``spend`` (paid calls until
the budget refuses), ``load`` (requests back to back for some seconds), ``health`` (the
shared-state report) and ``stop``. Answers come back as plain dicts.
"""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

TIMEOUT = 30.0


def summary(response: Any) -> dict[str, Any]:
    return {
        "provider": response.provider.value,
        "success": response.success,
        "cached": response.cached,
        "cost": response.cost_usd,
        "attempts": [(a.provider.value, a.outcome.value, a.reason) for a in response.attempts],
    }


def _spend(client: Any, prefix: str, limit: int, max_tokens: int) -> list[dict[str, Any]]:
    """Paid calls until one is refused for the budget (or ``limit`` calls)."""
    out = []
    for index in range(limit):
        answer = summary(client.complete(f"{prefix} {index}", max_tokens=max_tokens))
        out.append(answer)
        if any(reason.startswith("budget:") for _, _, reason in answer["attempts"]):
            break
    return out


def _load(client: Any, seconds: float, prefix: str) -> dict[str, Any]:
    """Requests back to back for ``seconds``: how many, by provider, and any exception."""
    import time
    import uuid

    providers: dict[str, int] = {}
    errors: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            response = client.complete(f"{prefix} {uuid.uuid4().hex}")
        except Exception as exc:  # a lost request: the test fails on it
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            continue
        providers[response.provider.value] = providers.get(response.provider.value, 0) + 1
    return {"providers": providers, "errors": errors}


def serve(commands: Any, results: Any, barrier: Any) -> None:
    """The worker's loop (runs in the child process)."""
    from sarvanom_sdk import SarvanClient
    from sarvanom_sdk.shared_state import flush

    client: Any = None
    while True:
        command, args = commands.get()
        try:
            if command == "stop":
                return
            if command == "build":
                client = SarvanClient(env_file=None, **args)
                result: Any = None
            elif command == "complete":
                result = summary(client.complete(**args))
            elif command == "together":
                barrier.wait(TIMEOUT)
                result = summary(client.complete(**args))
            elif command == "load":
                result = _load(client, **args)
            elif command == "health":
                result = client.health_report()["shared_state"]
            elif command == "circuits":  # provider -> breaker state, as this worker sees it
                result = {
                    name: health.circuit_state
                    for name, health in client.get_provider_health().items()
                }
            elif command == "spend":
                barrier.wait(TIMEOUT)
                result = _spend(client, **args)
            else:
                raise ValueError(f"unknown command {command!r}")
            flush()  # deferred writes (cache, budget) land before the test looks
            results.put(("ok", result))
        except Exception as exc:  # reported to the test, which fails
            results.put(("error", f"{type(exc).__name__}: {exc}"))


class Workers:
    """``n`` spawned worker processes; :meth:`call` one, :meth:`all` every one at once."""

    def __init__(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.barrier = ctx.Barrier(n)
        self._commands = [ctx.Queue() for _ in range(n)]
        self._results = [ctx.Queue() for _ in range(n)]
        self._procs = [
            ctx.Process(target=serve, args=(c, r, self.barrier), daemon=True)
            for c, r in zip(self._commands, self._results, strict=True)
        ]
        for proc in self._procs:
            proc.start()

    def __len__(self) -> int:
        return len(self._procs)

    def send(self, index: int, command: str, **args: Any) -> None:
        self._commands[index].put((command, args))

    def receive(self, index: int) -> Any:
        try:
            status, result = self._results[index].get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"worker {index} did not answer within {TIMEOUT} s") from None
        assert status == "ok", f"worker {index}: {result}"
        return result

    def call(self, index: int, command: str, **args: Any) -> Any:
        self.send(index, command, **args)
        return self.receive(index)

    def all(self, command: str, **args: Any) -> list[Any]:
        """Send ``command`` to every worker, then collect every answer (index order)."""
        for index in range(len(self)):
            self.send(index, command, **args)
        return [self.receive(index) for index in range(len(self))]

    def close(self) -> None:
        for index in range(len(self)):
            self.send(index, "stop")
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
