"""local_stub: the last resort. It answers instantly, and its text says plainly that no
provider answered and why, so a person reading it is never misled."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Attempt, AttemptOutcome

STUB_MODEL = "sarvanom-stub"

_NOTHING_CONFIGURED = (
    "no LLM provider is configured. Set OLLAMA_BASE_URL (a local Ollama), GPU_REMOTE_URL "
    "(a free remote GPU box) or HUGGINGFACE_API_KEY (Hugging Face's free tier); paid "
    "providers need ENABLE_PAID_API=true and their key. `sarvanom providers` shows the chain."
)


def failure_summary(attempts: Sequence[Attempt]) -> str:
    """One line naming every provider tried or skipped, with its reason. When some were
    skipped for lacking a capability the request needs (issue 14), it says that no
    capable provider was available."""
    if not attempts:
        return _NOTHING_CONFIGURED
    parts = []
    for attempt in attempts:
        verb = "skipped" if attempt.outcome is AttemptOutcome.SKIPPED else "failed"
        parts.append(f"{attempt.provider.value} {verb} ({attempt.reason})")
    return f"{no_answer_head(attempts)}: " + "; ".join(parts)


def no_answer_head(attempts: Sequence[Attempt]) -> str:
    """"no capable provider was available" when a provider was skipped for lacking a
    capability the request needs, else "no provider answered"."""
    if any(a.error_type == "unsupported" for a in attempts):
        return "no capable provider was available"
    return "no provider answered"


def stub_text(attempts: Sequence[Attempt]) -> str:
    return (
        "[sarvanom local_stub] This is not a model's answer: "
        + failure_summary(attempts).rstrip(".")
        + "."
    )
