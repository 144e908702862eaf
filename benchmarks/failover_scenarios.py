#!/usr/bin/env python3
"""Issue 13's sixteen provider-fault scenarios on the sync client, the async client and the gateway.

Each scenario (``tests/gateway/failover_scenarios.py``: 429 with and without Retry-After, a
500 once, a persistent 503, TCP reset, no response, slow first token, stream cut
mid-answer, stream stall, a malformed SSE event, a complete stream without [DONE],
context-length 400, content-filter 400, a fallback that rejects prefill, a primary that
flaps down then up, failover accounting) puts a faulty emulated OpenAI first and a healthy
emulated Anthropic second (the prefill case: Anthropic cuts, an OpenAI-compatible server
that refuses prefill is next), with stream recovery ``continue``, and asks once, as a whole
answer and streamed, on a fresh client of each kind (the gateway: the official ``openai``
client against ``sarvanom serve``'s app).

Each cell: the outcome (``answer``: the complete answer from some provider; ``error:<code>``:
the documented clean error; ``TRUNCATED``: a cut answer reported as success, the failure
the issue forbids), the seconds to it, and ``n=``: the requests the first provider received.
The flapping case asks every 0.4 s while the primary is down (3 s) and six times after:
``back@N`` says the primary answered again at the N-th request after its recovery, and
the time is the mean per request.
Timers: 3 s attempt and first-token timeouts, 2 s stream idle limit, one retry.
The rows are Markdown, ready to paste into a note.

Run (about two minutes)::

    python benchmarks/failover_scenarios.py [--only NAME]

Only loopback is contacted: provider settings from the environment are ignored.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests", ROOT / "tests" / "gateway"):
    sys.path.insert(0, str(path))

_KEYS = ("HUGGINGFACE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GPU_REMOTE_TOKEN")


def _loopback_only() -> None:
    """Forget every provider setting of the environment (nothing but the emulator is
    reached) and give the suite helpers the fake keys they expect."""
    for name in list(os.environ):
        if name.startswith(("SARVANOM_", "OLLAMA_", "GPU_REMOTE_", "HUGGINGFACE_", "OPENAI_",
                            "ANTHROPIC_", "ENABLE_PAID", "LLM_")) or "proxy" in name.lower():
            del os.environ[name]
    for name in _KEYS:
        os.environ[name] = f"sk-canary-bench-{name.lower()}"


_loopback_only()

import logging  # noqa: E402

from _common import run_script, script_parser  # noqa: E402

logging.getLogger("sarvanom_sdk").addHandler(logging.NullHandler())  # the table only

KINDS = ("sync", "async", "gateway")
OPS = (("complete", False), ("stream", True))


def _cell(emu, scenario, kind: str, stream: bool) -> str:  # type: ignore[no-untyped-def]
    from failover_scenarios import FLAPPING, asker, first_attempts, run_flapping

    with asker(kind, emu, scenario) as ask:
        if scenario.name == FLAPPING:
            outcomes, back = run_flapping(ask, stream)
            bad = sorted({o.verdict for o in outcomes} - {"answer"})
            verdict = ", ".join(bad) if bad else "answer"
            mean = sum(o.seconds for o in outcomes) / len(outcomes)
            return (f"{verdict} x{len(outcomes)}, back@{back if back else '-'}, "
                    f"{mean:.2f} s each, n={first_attempts(emu, scenario)}")
        outcome = ask.ask(stream)
        return f"{outcome.verdict}, {outcome.seconds:.2f} s, n={first_attempts(emu, scenario)}"


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--only", metavar="NAME",
                        help="run only the scenarios whose name contains NAME")
    args = parser.parse_args()
    from failover_scenarios import SCENARIOS

    from sarvanom_sdk.testing import ProviderEmulator

    chosen = [s for s in SCENARIOS if not args.only or args.only.lower() in s.name.lower()]
    print("| scenario | op | " + " | ".join(KINDS) + " |")
    print("|---|---|" + "---|" * len(KINDS))
    with ProviderEmulator() as emu:
        for scenario in chosen:
            for op, stream in OPS:
                cells = [_cell(emu, scenario, kind, stream) for kind in KINDS]
                print(f"| {scenario.name} | {op} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    run_script(main)
