"""The chat surface, in no protocol's shape: what a request asks of the emulated model
(tools, a tool result to answer, images, structured output, stop sequences) and the
deterministic answer it gets. Each wire module reads its protocol's request into a
:class:`Turn` and renders the :class:`~._answer.Answer` from :func:`respond`.

The emulated model's behaviour:

- **Tools.** When a request carries tools, its tool choice is not ``none``, and its last
  message is not a tool result, the model calls one tool: the one the choice names, else
  the first. The arguments are a minimal valid instance of the tool's JSON schema (see
  :mod:`._schema_instance`: required properties only, first enum value, ``"example"``,
  1, ``true``, arrays of one item). No text comes with the call.
- **Tool results.** When the last message is a tool result, the answer is ``"The tool
  said: <result>"`` (several results joined by ``"; "``).
- **Structured output.** A JSON-schema format gets a minimal valid instance of the schema
  as the text (``json.dumps``, spaces after separators, so it streams in pieces); a plain
  JSON format gets ``{"answer": <the text it would have answered>}``. A tool call wins
  over both.
- **Images.** Every image in the conversation is counted and the answer says so: ``"...
  I see 1 image."`` / ``"I see 2 images."`` (appended to the configured answer text).
- **Stop sequences** cut the text before the earliest one found in it (see
  :func:`~._answer.compose`).
- A configured ``reply_text`` is the text of *every* text answer (structured, tool-result
  and image answers included), so a test can make a provider answer anything, invalid
  JSON too; tool calls are still made.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._answer import (
    Answer,
    AnswerSettings,
    ToolCallOut,
    compose,
    count_tokens,
    reply_of,
    split_words,
)
from ._schema_instance import minimal_instance, minimal_object

Choice = Literal["auto", "none", "required", "tool"]
Format = Literal["text", "json", "schema"]


class WireError(Exception):
    """A request the real provider refuses with a 400: ``message`` and the extra fields
    of its error body (OpenAI's ``param``/``code``); the protocol renders it."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the request offers: its name and its arguments' JSON schema."""

    name: str
    schema: Any = None


@dataclass(frozen=True, slots=True)
class Turn:
    """What one chat request asks of the model (protocol-neutral)."""

    tools: tuple[ToolSpec, ...] = ()
    choice: Choice = "auto"
    choice_name: str | None = None
    tool_results: tuple[str, ...] | None = None
    """The texts of the tool results that end the conversation (``None``: it does not end
    with tool results)."""
    images: int = 0
    format: Format = "text"
    schema: Any = None
    stop: tuple[str, ...] = ()

    def tool_to_call(self) -> ToolSpec | None:
        """The tool the model calls, if it calls one (see the module docstring)."""
        if not self.tools or self.choice == "none" or self.tool_results is not None:
            return None
        if self.choice == "tool":
            for tool in self.tools:
                if tool.name == self.choice_name:
                    return tool
        return self.tools[0]


def respond(
    turn: Turn,
    provider: str,
    prompt: str,
    input_text: str,
    max_tokens: Any,
    settings: AnswerSettings,
) -> Answer:
    """The answer to ``turn``: a tool call, or text as the module docstring says."""
    tool = None if settings.refusal is not None else turn.tool_to_call()
    if tool is not None:
        arguments = minimal_object(tool.schema)
        text = json.dumps(arguments, ensure_ascii=False)
        call = ToolCallOut(tool.name, arguments, text, split_words(text, settings.stream_chunks))
        return Answer(
            text="",
            pieces=(),
            prompt_tokens=count_tokens(input_text),
            completion_tokens=max(1, count_tokens(text)),
            truncated=False,
            tool_call=call,
        )
    return compose(
        provider,
        prompt,
        input_text,
        max_tokens,
        settings,
        text=_text(turn, provider, prompt, settings),
        stop=turn.stop,
    )


def _text(turn: Turn, provider: str, prompt: str, settings: AnswerSettings) -> str | None:
    """The answer text when the turn changes it (``None``: the configured answer)."""
    if settings.reply_text is not None:
        return None
    if turn.format == "schema":
        return json.dumps(minimal_instance(turn.schema), ensure_ascii=False)
    text: str | None = None
    if turn.tool_results is not None:
        text = "The tool said: " + "; ".join(turn.tool_results)
    elif turn.images:
        text = f"{reply_of(provider, prompt, settings)} {images_seen(turn.images)}"
    if turn.format == "json":
        answer = text if text is not None else reply_of(provider, prompt, settings)
        return json.dumps({"answer": answer}, ensure_ascii=False)
    return text


def images_seen(count: int) -> str:
    """``"I see 1 image."`` / ``"I see 3 images."``."""
    return f"I see {count} image{'' if count == 1 else 's'}."


def stop_list(value: Any) -> tuple[str, ...]:
    """A request's stop sequences: a string or a list of strings (others ignored)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(item for item in value if isinstance(item, str))
    return ()


_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error(data: str) -> int | None:
    """Where standard padded base64 ``data`` goes wrong (a byte index, as Go's decoder
    reports it), or ``None`` when it decodes."""
    raw = data.encode("utf-8", "replace")
    body = raw.rstrip(b"=")
    for index, byte in enumerate(body):
        if byte not in _B64:
            return index
    padding = len(raw) - len(body)
    if padding > 2 or len(raw) % 4:
        return len(body) if padding <= 2 else len(body) + 2
    return None
