"""Issue 12 (hardening), the same on both clients against the emulator."""

from __future__ import annotations

import pytest

from parity.drivers import Connect
from sarvanom_sdk import InvalidRequestError
from sarvanom_sdk.testing import ProviderEmulator


def test_F12_a_lone_surrogate_is_refused_before_any_call(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama")
    with pytest.raises(InvalidRequestError, match="surrogate") as info:
        driver.complete("half an emoji \ud83d")
    assert info.value.field == "prompt"
    with pytest.raises(InvalidRequestError) as info:
        driver.stream("x", system="\udc00")
    assert info.value.field == "system"
    assert emu.request_count() == 0
