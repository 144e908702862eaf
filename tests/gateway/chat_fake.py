"""A small fake OpenAI-protocol model server for the gateway's chat-surface tests (issue 14
item 7): enough of ``POST /v1/chat/completions`` (JSON and SSE) to answer tools,
structured output and images the way OpenAI shapes them, deterministically, on
127.0.0.1. It records every request body it receives (``fake.bodies``).

How it answers (the last message decides):

* the last message is a ``tool`` result: text ``"The tool said: <content>"``;
* ``tools`` offered (``tool_choice`` not ``none``): a call to the named tool, else to the
  first one — to every tool (parallel calls) when the last user text holds "both" —
  with arguments made from the tool's JSON schema (:func:`example`);
* ``response_format`` json_schema: content made from the schema; json_object:
  :data:`JSON_OBJECT`;
* otherwise: ``"Fake answer to: <last user text>"``, plus ``" [2 image(s)]"`` when the
  last user message holds images.

Streams split text into words and each call's arguments into two pieces (``id``, type
and name with the first), the finish reason in the last choice chunk, then usage and
``[DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from gateway_helpers import ThreadedGateway

from sarvanom_sdk import AsyncSarvanClient, Settings

MODEL = "fake-model"
JSON_OBJECT = {"name": "Oslo", "population": 3}


def example(schema: Any, root: Mapping[str, Any] | None = None) -> Any:
    """A value valid under ``schema`` (the subset tools and pydantic use): strings are
    "Oslo" (or the first enum value), integers 3, numbers 1.5, booleans true."""
    root = root if root is not None else schema
    if not isinstance(schema, Mapping):
        return None
    if "$ref" in schema:
        node: Any = root
        for key in schema["$ref"].removeprefix("#/").split("/"):
            node = node[key] if key else node
        return example(node, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [s for s in schema[combinator] if s.get("type") != "null"]
            return example(options[0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example(sub, root) for name, sub in properties.items()}
    if kind == "array":
        return [example(schema.get("items", {"type": "string"}), root)]
    return {"string": "Oslo", "integer": 3, "number": 1.5, "boolean": True}.get(kind)


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content or ""


def _images(content: Any) -> int:
    return (
        sum(1 for p in content if p.get("type") == "image_url") if isinstance(content, list) else 0
    )


def answer(body: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """(content, tool calls) for a request body, as the module docstring says."""
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "tool":
        return f"The tool said: {_text(last['content'])}", []
    tools = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if tools and choice != "none":
        if isinstance(choice, dict):
            chosen = [t for t in tools if t["function"]["name"] == choice["function"]["name"]]
        elif "both" in _text(last.get("content")):
            chosen = tools
        else:
            chosen = tools[:1]
        calls = [
            {
                "id": f"call_{index}_{tool['function']['name']}",
                "type": "function",
                "function": {
                    "name": tool["function"]["name"],
                    "arguments": json.dumps(example(tool["function"].get("parameters", {}))),
                },
            }
            for index, tool in enumerate(chosen)
        ]
        return None, calls
    form = body.get("response_format") or {"type": "text"}
    if form["type"] == "json_schema":
        return json.dumps(example(form["json_schema"]["schema"])), []
    if form["type"] == "json_object":
        return json.dumps(JSON_OBJECT), []
    users = [m for m in messages if m["role"] == "user"]
    text = f"Fake answer to: {_text(users[-1]['content'])}"
    images = _images(users[-1]["content"])
    return (text + f" [{images} image(s)]" if images else text), []


class FakeOpenAI:
    """The fake on 127.0.0.1 (a context manager); ``url`` its root, ``bodies`` what it got."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._server = ThreadedGateway(app)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> FakeOpenAI:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        content, calls = answer(body)
        finish = "tool_calls" if calls else "stop"
        usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
        if not body.get("stream"):
            message = {"role": "assistant", "content": content}
            if calls:
                message["tool_calls"] = calls
            return web.json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1,
                    "model": MODEL,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        for delta in _deltas(content, calls):
            await _send(out, [{"index": 0, "delta": delta, "finish_reason": None}])
        await _send(out, [{"index": 0, "delta": {}, "finish_reason": finish}])
        await _send(out, [], usage)
        await out.write(b"data: [DONE]\n\n")
        return out


def _deltas(content: str | None, calls: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield {"role": "assistant", "content": "" if content is not None else None}
    for word in (content or "").split(" ") if content else ():
        yield {"content": word + " "}
    for index, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        yield {
            "tool_calls": [
                {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
                }
            ]
        }
        yield {"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}


async def _send(out: web.StreamResponse, choices: list[Any], usage: Any = None) -> None:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": choices,
        "usage": usage,
    }
    await out.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")


def fake_client(fake: FakeOpenAI, **overrides: Any) -> AsyncSarvanClient:
    """A client whose chain is the fake as remote_gpu (OpenAI protocol), then the stub."""
    return AsyncSarvanClient(
        Settings(
            providers=("remote_gpu",),
            gpu_remote_url=fake.url,
            gpu_remote_protocol="openai",
            gpu_remote_model=MODEL,
            max_retries=0,
            **overrides,
        )
    )


@contextmanager
def fake_gateway(**overrides: Any) -> Iterator[tuple[FakeOpenAI, ThreadedGateway]]:
    """The fake and a gateway (``create_app``) whose chain is the fake, both running."""
    from sarvanom_sdk.gateway import create_app

    with FakeOpenAI() as fake, ThreadedGateway(create_app(fake_client(fake, **overrides))) as gw:
        yield fake, gw
