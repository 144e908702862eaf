"""The outage rule of the Redis link (sans-IO, fake clock): one outage per real outage.
A command sent before Redis went away that answers late must not end the outage, or the
next failure would open (and log) a second one for the same outage."""

from __future__ import annotations

from sarvanom_sdk.shared_state.outage import GO, PROBE, SKIP, Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_late_answer_to_a_command_sent_before_the_outage_does_not_end_it() -> None:
    clock = Clock()
    outage = Outage(retry_seconds=2.0, monotonic=clock)
    early, failing = outage.begin(), outage.begin()
    assert early == failing == GO
    assert outage.failed(failing) is True  # the outage begins: one warning
    assert outage.succeeded(early) is None  # sent before it: says nothing of now
    assert outage.down
    assert outage.begin() == SKIP  # still waiting for the retry time
    later = GO
    assert outage.failed(later) is False  # the same outage: no second warning
    assert outage.count == 1


def test_only_a_probe_after_the_retry_time_ends_the_outage() -> None:
    clock = Clock()
    outage = Outage(retry_seconds=2.0, monotonic=clock)
    assert outage.failed(outage.begin()) is True
    clock.now += 2.5
    probe = outage.begin()
    assert probe == PROBE
    assert outage.begin() == SKIP  # one probe at a time
    assert outage.succeeded(probe) == 2.5
    assert not outage.down
    assert outage.begin() == GO
