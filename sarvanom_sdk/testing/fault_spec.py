"""Faults written as text: ``PROVIDER=KIND[:ARG]...``, as ``sarvanom emulate --fault`` takes
them.

``KIND`` is a :class:`~sarvanom_sdk.testing.Fault` constructor's name; each ``ARG`` is a
value for its next positional parameter, or ``NAME=VALUE`` for a named one. ``times``,
``probability``, ``seed`` and ``endpoint`` are the schedule of
:meth:`ProviderEmulator.inject` rather than the fault's. Each value is read as its
parameter's type (an integer, a number or text). Examples::

    ollama=hang                       every Ollama request hangs
    huggingface=http:503:2            503 with Retry-After: 2 (Fault.http(503, 2))
    openai=http:429:times=3           the next three requests get 429
    ollama=trickle:interval=0.5       one stream event every half second
    remote_gpu=delay:5:probability=0.2:seed=1
    anthropic=context_length:200000:204658

:func:`parse_fault` raises ``ValueError`` with a message that names what is wrong, before
anything listens; the CLI adds the flag's name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._catalog import build_protocols, canonical
from .faults import Fault, FaultRule

SCHEDULE = {"times": "int", "probability": "float", "seed": "int", "endpoint": "str"}
SYNTAX = "PROVIDER=KIND[:ARG]... (e.g. ollama=hang, huggingface=http:503:2)"


@dataclass(frozen=True)
class FaultSpec:
    """One parsed ``--fault``: inject ``fault`` on ``provider`` with ``schedule``."""

    text: str
    provider: str
    fault: Fault
    schedule: dict[str, Any] = field(default_factory=dict)


def kinds() -> dict[str, Callable[..., Fault]]:
    """Every fault kind by name, with its constructor."""
    return {
        name: getattr(Fault, name)
        for name, member in vars(Fault).items()
        if isinstance(member, classmethod)
    }


def parse_fault(text: str) -> FaultSpec:
    """Read one fault spec (see the module docstring); ``ValueError`` says what is wrong."""
    provider, sep, rest = text.strip().partition("=")
    if not sep or not provider.strip() or not rest.strip():
        raise ValueError(f"{text!r} is not {SYNTAX}")
    name = canonical(provider.strip())
    kind, *args = rest.strip().split(":")
    constructors = kinds()
    make = constructors.get(kind)
    if make is None:
        known = ", ".join(sorted(constructors))
        raise ValueError(f"unknown fault kind {kind!r} in {text!r}; known: {known}")
    parameters = inspect.signature(make).parameters
    positional = [
        p.name for p in parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]  # fmt: skip
    values: list[Any] = []
    named: dict[str, Any] = {}
    schedule: dict[str, Any] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq:
            if len(values) < len(positional):
                arg = _value(kind, positional[len(values)], parameters, arg)
            values.append(arg)
        elif key in SCHEDULE:
            schedule[key] = _typed(kind, key, SCHEDULE[key], value)
        elif key in parameters:
            named[key] = _value(kind, key, parameters, value)
        else:
            allowed = ", ".join((*parameters, *SCHEDULE))
            raise ValueError(f"{kind} has no parameter {key!r}; allowed: {allowed}")
    if len(values) > len(positional):
        takes = ", ".join(positional) or "no values"
        raise ValueError(f"{kind} takes at most {len(positional)} value(s) ({takes}), "
                         f"got {len(values)} in {text!r}")  # fmt: skip
    try:
        fault = make(*values, **named)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{kind} in {text!r}: {error}") from None
    why = build_protocols()[name].unsupported.get(fault.kind)
    if why is not None:
        raise ValueError(f"{kind} does not exist on {name}: {why}")
    try:  # the schedule, checked the way inject() will check it
        FaultRule(name, fault, schedule.get("endpoint", "any"), schedule.get("times"), None,
                  schedule.get("probability"), schedule.get("seed"))  # fmt: skip
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    return FaultSpec(text, name, fault, schedule)


def _value(kind: str, name: str, parameters: Any, text: str) -> Any:
    """``text`` as the type parameter ``name`` of ``kind``'s constructor is annotated with."""
    annotation = str(parameters[name].annotation)
    wanted = "int" if annotation.startswith("int") else (
        "float" if annotation.startswith("float") else "str"
    )
    return _typed(kind, name, wanted, text)


def _typed(kind: str, name: str, wanted: str, text: str) -> Any:
    if wanted == "str":
        return text
    try:
        return int(text) if wanted == "int" else float(text)
    except ValueError:
        what = "an integer" if wanted == "int" else "a number"
        raise ValueError(f"{kind}: {name} must be {what}, got {text!r}") from None
