"""Reading a gateway's SSE answer the way a careful client does, beside the official client:
the raw events (comments included), and the answer a client that honours the
``sarvanom.restart`` comment keeps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests

RESTART = ": sarvanom.restart"


@dataclass
class RawStream:
    """A streamed answer as sent: its headers, every event (``("comment", text)`` or
    ``("data", text)``, in order) and whether it ended with ``[DONE]``."""

    status: int
    headers: dict[str, str]
    events: list[tuple[str, str]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1] == ("data", "[DONE]")

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [json.loads(d) for k, d in self.events if k == "data" and d != "[DONE]"]

    @property
    def restarts(self) -> list[dict[str, Any]]:
        return [
            json.loads(text.removeprefix(RESTART))
            for kind, text in self.events
            if kind == "comment" and text.startswith(RESTART)
        ]

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [c["error"] for c in self.chunks if "error" in c]
        return errors[-1] if errors else None

    def text(self, honour_restart: bool = True) -> str:
        """The content a client keeps: with ``honour_restart``, only what follows the last
        restart comment (what the gateway asks for); without, everything (what a client
        that ignores comments shows)."""
        kept: list[str] = []
        for kind, data in self.events:
            if kind == "comment" and data.startswith(RESTART) and honour_restart:
                kept.clear()
            elif kind == "data" and data != "[DONE]":
                chunk = json.loads(data)
                for choice in chunk.get("choices") or []:
                    kept.append(choice.get("delta", {}).get("content") or "")
        return "".join(kept)

    def models(self) -> list[str]:
        return [c["model"] for c in self.chunks if "model" in c]


def post_stream(url: str, body: dict[str, Any], timeout: float = 60.0) -> RawStream:
    """POST ``body`` (``stream: true`` added) to ``url``/v1/chat/completions; read it all."""
    response = requests.post(
        f"{url}/v1/chat/completions",
        json={**body, "stream": True},
        headers={"Authorization": "Bearer unused"},
        stream=True,
        timeout=timeout,
    )
    with response:
        raw = RawStream(response.status_code, dict(response.headers))
        if response.status_code != 200:
            raw.events.append(("data", response.text))
            return raw
        for block in response.text.split("\n\n"):
            for line in block.splitlines():
                if line.startswith(":"):
                    raw.events.append(("comment", line))
                elif line.startswith("data: "):
                    raw.events.append(("data", line.removeprefix("data: ")))
    return raw
