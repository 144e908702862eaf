"""What the chat adapters that carry tool calls as JSON *objects* share (Anthropic's
``tool_use.input``, Ollama's ``function.arguments``; issue 14): a conversation's call
arguments as objects, a reply's arguments checked and turned into JSON text, base64
image data, and finish reasons normalised.

The SDK holds a call's ``arguments`` as JSON text (OpenAI's shape); a reply whose
arguments are not a JSON object is malformed (:class:`BadResponseError`, the next
provider is tried) — never passed on as a tool call the caller cannot run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..chat import ImagePart, ToolCall
from ..errors import BadResponseError, InvalidRequestError

__all__ = [
    "check_streamed_arguments",
    "image_data",
    "normalised_finish",
    "reply_arguments",
    "request_arguments",
]


def request_arguments(call: ToolCall, where: str) -> dict[str, Any]:
    """The arguments of a call already in the conversation, as a JSON object (for the
    protocols that carry them as one). :class:`InvalidRequestError` naming ``where`` when
    the text does not parse as an object: no provider could be sent it."""
    try:
        value = json.loads(call.arguments or "{}")
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(where, "must be a JSON object (the call's arguments)")
    return value


def reply_arguments(value: Any, provider: str, where: str) -> str:
    """A reply's call arguments as JSON text: a JSON object, or a string that parses as
    one (some servers send the text). Anything else is :class:`BadResponseError`."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (ValueError, RecursionError):
            value = None
    if not isinstance(value, dict):
        raise BadResponseError(f"{where} is not a JSON object", provider=provider)
    return json.dumps(value)


def check_streamed_arguments(text: str, provider: str, where: str) -> None:
    """A streamed call's whole arguments text must be empty (no arguments) or a JSON
    object; :class:`BadResponseError` otherwise."""
    if text.strip():
        reply_arguments(text, provider, where)


def image_data(part: ImagePart) -> tuple[str, str]:
    """A ``data:`` image's media type and its base64 text without whitespace (which the
    request's validation allows and decoders may refuse)."""
    media_type, data = part.media_type_and_data()
    return media_type, "".join(data.split())


def normalised_finish(raw: str | None, table: Mapping[str, str], calls: bool) -> str | None:
    """``raw`` (a provider's finish or stop reason) as one of
    :data:`sarvanom_sdk.chat.FINISH_REASONS`:
    ``tool_calls`` whenever the reply holds tool calls, else ``table``'s entry; a value
    the table does not know is passed on unchanged, None stays None."""
    if calls:
        return "tool_calls"
    if raw is None:
        return None
    return table.get(raw, raw)
