"""Issue 18 goal 1: :func:`sarvanom_sdk._fastinit.fast_init` gives a frozen dataclass a
faster ``__init__`` that behaves exactly like the one dataclasses generate."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from sarvanom_sdk._fastinit import fast_init
from sarvanom_sdk.http import HttpCall, HttpReply
from sarvanom_sdk.providers.base import Completion, StreamEvent
from sarvanom_sdk.types import Attempt, LLMRequest, LLMResponse, Message, StreamChunk, Usage

made: list[int] = []


def _plain() -> type:
    @dataclass(frozen=True, slots=True)
    class Value:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        checked: bool = False

        def __post_init__(self) -> None:
            made.append(self.a)
            if self.a < 0:
                raise ValueError("a must not be negative")
            object.__setattr__(self, "checked", True)

    return Value


def test_issue18_fast_init_behaves_like_the_generated_one() -> None:
    plain, fast = _plain(), fast_init(_plain())
    assert "_set" in fast.__init__.__code__.co_freevars
    assert "_set" not in plain.__init__.__code__.co_freevars
    assert str(inspect.signature(fast)) == str(inspect.signature(plain))
    for args, kwargs in [((1,), {}), ((2, "x"), {}), ((3,), {"c": [1]}), ((), {"a": 4})]:
        one, two = plain(*args, **kwargs), fast(*args, **kwargs)
        assert dataclasses.asdict(one) == dataclasses.asdict(two)
        assert two.checked  # __post_init__ ran
    assert fast(1).c is not fast(1).c  # a fresh default per instance
    with pytest.raises(ValueError, match="negative"):
        fast(-1)
    with pytest.raises(TypeError):
        fast()  # a required field is still required
    with pytest.raises(TypeError):
        fast(1, d=2)  # no unknown keyword
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast(1).a = 2  # type: ignore[misc]
    assert dataclasses.replace(fast(1, "x"), a=5) == fast(5, "x")


def test_issue18_a_class_fast_init_cannot_handle_is_left_as_it_is() -> None:
    @dataclass(frozen=True)
    class KwOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True)
    class NotInInit:
        a: int = field(default=1, init=False)

    for cls in (KwOnly, NotInInit):
        generated = cls.__init__
        assert fast_init(cls).__init__ is generated


@pytest.mark.parametrize(
    "cls",
    [LLMRequest, LLMResponse, Attempt, Usage, StreamChunk, Message, Completion, StreamEvent,
     HttpCall, HttpReply],
)
def test_issue18_the_per_request_values_use_it_with_their_own_signature(cls: type) -> None:
    assert "_set" in cls.__init__.__code__.co_freevars  # fast_init's, not the generated one
    params = list(inspect.signature(cls).parameters)
    assert params == [f.name for f in dataclasses.fields(cls)]


def test_issue18_llm_request_still_validates_and_makes_a_trace_id() -> None:
    one, two = LLMRequest(prompt="hi"), LLMRequest(prompt="hi")
    assert one.trace_id != two.trace_id and len(one.trace_id) == 32
    assert LLMRequest(prompt="hi", trace_id="t").trace_id == "t"
    assert LLMRequest(prompt="hi", temperature=1).temperature == 1.0  # normalised
