"""What the emulator says: prompt extraction, the answer text, token counts and ids.

Pure functions and small values, no I/O. Every protocol module turns an :class:`Answer`
into its own wire format.

The answer is deterministic: ``"Emulated <provider> answer to: <first 40 chars of the
prompt>"`` unless the emulator was given ``reply_text`` (a string, or a callable taking
``(provider, prompt)``). Token counts are whitespace-separated words, at least 1 for a
non-empty text. A request's token limit (``max_tokens``, ``num_predict``,
``max_new_tokens``...) truncates the answer to that many words, which the protocols report
as ``length`` / ``max_tokens``. Stop sequences cut it first (:func:`cut_at_stop`). An
answer may be a tool call instead of text (``Answer.tool_call``; see ``_chat.py``).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ReplyText = str | Callable[[str, str], str] | None

PROMPT_PREVIEW_CHARS = 40
OVERSIZED_PIECE_BYTES = 4096
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit "
_WORD = re.compile(r"\S+\s*")
_ID_SAFE = str.maketrans("-_", "xQ")


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """How answers are made; the emulator holds one, a fault may swap in another."""

    reply_text: ReplyText = None
    stream_chunks: int = 4
    honor_max_tokens: bool = True
    refusal: str | None = None
    """A content filter's refusal: ``"prompt"`` keeps no text, ``"output"`` half of it."""

    def refusing(self, stage: str) -> AnswerSettings:
        """Settings whose answers are refused by a content filter at ``stage``."""
        return AnswerSettings(self.reply_text, self.stream_chunks, self.honor_max_tokens, stage)

    def oversized(self, n_bytes: int) -> AnswerSettings:
        """Settings whose answers are at least ``n_bytes`` long and stream in ~4 KiB pieces."""
        text = (_FILLER * (n_bytes // len(_FILLER) + 1))[:n_bytes]
        chunks = max(self.stream_chunks, -(-n_bytes // OVERSIZED_PIECE_BYTES))
        return AnswerSettings(reply_text=text, stream_chunks=chunks, honor_max_tokens=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """One reply's text, its streaming pieces (``"".join(pieces) == text``) and counts."""

    text: str
    pieces: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    truncated: bool
    refused: bool = False
    stop_sequence: str | None = None
    """The stop sequence the text was cut at (``None``: not cut by one)."""
    tool_call: ToolCallOut | None = None
    """The tool the model calls instead of answering text (then ``text`` is empty)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def ending(self) -> str:
        """Why the answer ended, for each protocol to name its way: ``tool_call``,
        ``refused``, ``truncated``, ``stop_sequence`` or ``done``."""
        if self.tool_call is not None:
            return "tool_call"
        if self.refused:
            return "refused"
        if self.truncated:
            return "truncated"
        return "done" if self.stop_sequence is None else "stop_sequence"


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    """A tool call the emulated model makes: the tool's name, its arguments, and the
    arguments' JSON text in streaming pieces (``"".join(pieces) == arguments_json``)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    arguments_json: str = "{}"
    pieces: tuple[str, ...] = ("{}",)


def reply_of(provider: str, prompt: str, settings: AnswerSettings) -> str:
    """The configured answer text: ``reply_text`` or ``"Emulated <provider> answer to:
    <prompt[:40]>"``."""
    reply = settings.reply_text
    if reply is None:
        return f"Emulated {provider} answer to: {prompt[:PROMPT_PREVIEW_CHARS]}"
    if isinstance(reply, str):
        return reply
    return reply(provider, prompt)


def compose(
    provider: str,
    prompt: str,
    input_text: str,
    max_tokens: Any,
    settings: AnswerSettings,
    *,
    text: str | None = None,
    stop: Sequence[str] = (),
) -> Answer:
    """The answer to ``prompt``; ``input_text`` is everything sent, for the prompt count.
    ``text`` replaces the configured answer (a structured answer, a reply to a tool
    result); ``stop`` cuts it before the first stop sequence found in it (earliest wins)."""
    if text is None:
        text = reply_of(provider, prompt, settings)
    text, stop_sequence = cut_at_stop(text, stop)
    words = _words(text)
    truncated = False
    limit = max_tokens if settings.honor_max_tokens else None
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(words):
        words = words[:limit]
        words[-1] = words[-1].rstrip()
        text = "".join(words)
        truncated = True
    refused = settings.refusal is not None
    if refused:
        words = words[: len(words) // 2] if settings.refusal == "output" else []
        text = "".join(words)
        truncated = False
    return Answer(
        text=text,
        pieces=_split(words, settings.stream_chunks),
        prompt_tokens=count_tokens(input_text),
        completion_tokens=len(words),
        truncated=truncated,
        refused=refused,
        stop_sequence=None if truncated or refused else stop_sequence,
    )


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """``text`` before the earliest occurrence of any of ``stop``, and that sequence."""
    best: tuple[int, str] | None = None
    for sequence in stop:
        if not sequence:
            continue
        at = text.find(sequence)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, sequence)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def split_words(text: str, chunks: int) -> tuple[str, ...]:
    """``text`` in at most ``chunks`` streaming pieces, split between words."""
    return _split(_words(text), chunks)


def count_tokens(text: str) -> int:
    """Words standing in for tokens: plausible, deterministic and cheap."""
    return len(text.split())


def text_of(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of blocks with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            block["text"]
            for block in content
            if isinstance(block, Mapping) and isinstance(block.get("text"), str)
        )
    return ""


def last_user_text(messages: Any) -> str:
    """The prompt of a chat request: the last ``user`` message's text ("" if none)."""
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, Mapping) and message.get("role") == "user":
                return text_of(message.get("content"))
    return ""


def all_text(messages: Any, *extra: Any) -> str:
    """Every message's text plus ``extra`` contents (a system prompt), for counting."""
    parts = [text_of(part) for part in extra]
    if isinstance(messages, list):
        parts.extend(text_of(m.get("content")) for m in messages if isinstance(m, Mapping))
    return " ".join(parts)


def random_id(prefix: str, length: int) -> str:
    """``prefix`` plus ``length`` random letters and digits, like real provider ids."""
    return prefix + base64.urlsafe_b64encode(os.urandom(length)).decode()[:length].translate(
        _ID_SAFE
    )


def _words(text: str) -> list[str]:
    """``text`` as words that keep their trailing space (leading space stays on the first)."""
    words = _WORD.findall(text)
    lead = text[: len(text) - len(text.lstrip())]
    if not words:
        return [lead] if lead else []
    if lead:
        words[0] = lead + words[0]
    return words


def _split(words: list[str], chunks: int) -> tuple[str, ...]:
    """``words`` joined into at most ``chunks`` pieces of nearly equal word counts."""
    count = min(max(chunks, 1), len(words))
    if count == 0:
        return ()
    size, extra = divmod(len(words), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append("".join(words[start:end]))
        start = end
    return tuple(pieces)
