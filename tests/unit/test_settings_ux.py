"""Issue 17, D24 (settings side): a misspelt keyword gets a suggestion, and an attempt
timeout above the total timeout is accepted with one warning."""

from __future__ import annotations

import logging

import pytest

from sarvanom_sdk import SarvanClient
from sarvanom_sdk.errors import ConfigurationError
from sarvanom_sdk.settings import Settings


@pytest.mark.parametrize(
    ("keyword", "suggestion"),
    [
        ("totl_timeout", "total_timeout"),
        ("attempt_timout", "attempt_timeout"),
        ("LLM_TIMEOUT_SECONDS", "attempt_timeout"),  # the variable's name given as a keyword
        ("ollama_url", "ollama_base_url"),
    ],
)
def test_d24_a_misspelt_keyword_gets_a_suggestion(keyword: str, suggestion: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SarvanClient(env_file=None, **{keyword: 10})
    assert str(caught.value) == f"{keyword}: not a Settings field; did you mean {suggestion}?"
    with pytest.raises(ConfigurationError, match=f"did you mean {suggestion}"):
        Settings().replace(**{keyword: 10})


def test_d24_a_far_off_keyword_gets_no_wild_guess() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env_file=None, zzzz=1)
    assert str(caught.value) == "zzzz: not a Settings field"


def test_d24_attempt_timeout_above_total_is_accepted_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sarvanom_sdk")
    for _ in range(3):
        settings = Settings.from_env(env_file=None, attempt_timeout=61.5, total_timeout=30)
        settings.replace(hedge=True)
    assert settings.attempt_timeout == 61.5
    notes = [r.getMessage() for r in caplog.records if "LLM_TIMEOUT_SECONDS" in r.getMessage()]
    assert notes == [
        "LLM_TIMEOUT_SECONDS (61.5 s) is above SARVANOM_TOTAL_TIMEOUT_SECONDS (30 s): "
        "every attempt is cut at the total timeout"
    ]
    caplog.clear()
    Settings.from_env(env_file=None, attempt_timeout=10, total_timeout=30)
    assert not caplog.records
