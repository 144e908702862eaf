"""The README's Python examples: every block compiles as a script (D11: no top-level
``async with``), and the layer example really keeps secrets away from providers whether
they come as a prompt or as messages (D9)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_d11_every_python_block_of_the_readme_compiles_as_a_script(index: int) -> None:
    compile(BLOCKS[index], f"README block {index}", "exec")


def _layer_example() -> dict[str, Any]:
    (block,) = [b for b in BLOCKS if "class RefuseSecrets" in b]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README layer example", "exec"), namespace)  # builds `client`
    return namespace


@pytest.mark.parametrize(
    "call",
    [
        {"prompt": "-----BEGIN PRIVATE KEY----- abc"},
        {"messages": [{"role": "user", "content": "-----BEGIN PRIVATE KEY----- abc"}]},
        {"prompt": "summarise", "system": "context: -----BEGIN PRIVATE KEY----- abc"},
    ],
)
def test_d9_the_layer_example_answers_locally_for_any_field(call: dict[str, Any]) -> None:
    client = _layer_example()["client"]
    with client:
        resp = client.complete(**call)
    assert resp.provider.value == "local_stub"
    assert resp.content.startswith("Refused")
    assert resp.attempts == ()  # no provider was even considered


def test_d9_the_layer_example_lets_ordinary_requests_through() -> None:
    client = _layer_example()["client"]
    with client:
        resp = client.complete(messages=[{"role": "user", "content": "hello"}])
    assert not resp.content.startswith("Refused")
    assert resp.attempts  # went down the stack (and, with nothing reachable, to the stub)
