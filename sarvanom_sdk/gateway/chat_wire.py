"""The OpenAI Chat Completions wire of ``POST /v1/chat/completions``, translated both ways
(issue 14 item 7). Pure functions, no I/O:

* :func:`refuse_unsupported` and :func:`request_fields`: the request body -> LLMRequest
  keyword arguments. Passed through: ``messages`` (roles system, developer (as system),
  user, assistant, tool; content a string or text and ``image_url`` parts (only text
  parts: joined by newlines into one string); assistant
  ``tool_calls`` with ``content`` null; ``tool_call_id``; ``name``), ``tools``,
  ``tool_choice``, ``parallel_tool_calls``, ``response_format`` (text, json_object,
  json_schema), ``stop``, ``top_p``, ``seed``, ``presence_penalty``,
  ``frequency_penalty``, ``temperature``, ``max_completion_tokens``/``max_tokens``. The
  SDK validates them (:class:`~sarvanom_sdk.types.LLMRequest`), naming the field.
  Refused: the legacy ``functions``/``function_call`` (and ``function`` messages),
  ``n`` other than 1, ``logprobs``.
* :func:`refuse_incapable`: 400 naming the field when no provider the request may reach
  (the chain, or the pinned provider) declares a capability the request needs
  (:meth:`~sarvanom_sdk.types.LLMRequest.needed_capabilities`). A request some provider
  can serve is routed to those that can (the others are skipped in the trail).
* :func:`message_body` / :func:`finish_reason`: an LLMResponse -> ``choices[0].message``
  (``tool_calls``; ``content`` null when the model only called tools) and the
  ``finish_reason`` (``stop``, ``length``, ``tool_calls``, ``content_filter``).
* :func:`chunk_delta`: a StreamChunk -> a chunk's ``delta`` (``delta.tool_calls`` by
  index in OpenAI's shape: ``id``, ``type`` and ``function.name`` with a call's first
  piece, ``function.arguments`` text in every piece); :func:`delta_json`: the same as
  JSON text, ``json.dumps(chunk_delta(...))`` byte for byte, encoding only the text of
  a plain text piece (the common chunk; issue 18).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from ..chat import CAPABILITIES, FINISH_REASONS, ToolCallDelta
from ..types import LLMRequest, LLMResponse, ProviderName, StreamChunk
from .limits import GatewayError

#: OpenAI roles the SDK names differently.
_ROLES = {"developer": "system"}
#: Message keys carried into the SDK (others, e.g. ``refusal`` or ``audio``, are dropped).
_MESSAGE_KEYS = ("content", "tool_calls", "tool_call_id", "name")
#: Body keys carried into the SDK as they are (the SDK validates them).
_PASSED = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "stop",
    "top_p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "temperature",
)
#: Finish reasons of older adapters and other protocols, as OpenAI's.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_length": "length",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
}


# -- requests -------------------------------------------------------------------------------
def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """400 ``unsupported_parameter`` for what this gateway never does: the legacy
    ``functions``/``function_call`` (use ``tools``/``tool_choice``), ``n`` other than 1,
    ``logprobs``/``top_logprobs``."""
    checks = (
        ("functions", bool, "legacy function calling is not supported; send 'tools'"),
        (
            "function_call",
            lambda v: v not in ("none", "auto"),
            "legacy function calling is not supported; send 'tool_choice'",
        ),
        ("n", lambda v: v != 1, "only n=1 is supported"),
        ("logprobs", lambda v: v is not False, "logprobs are not supported"),
        ("top_logprobs", bool, "logprobs are not supported"),
    )
    for name, refused, why in checks:
        value = body.get(name)
        if value is not None and refused(value):
            raise GatewayError.bad_request(
                name, f"{name}: {why} by this gateway", code="unsupported_parameter"
            )


def request_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """LLMRequest keyword arguments from the body (only the keys it sets; nulls are
    absent). Shapes are checked here only as far as the SDK cannot: a message that is
    not an object, a ``function`` message; everything else is the SDK's validation."""
    fields: dict[str, Any] = {"messages": messages(body.get("messages"))}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        fields["max_tokens"] = max_tokens
    for name in _PASSED:
        if body.get(name) is not None:
            fields[name] = body[name]
    return fields


def messages(value: Any) -> list[dict[str, Any]]:
    """OpenAI's messages as the SDK's message mappings (``developer`` as ``system``)."""
    if not isinstance(value, list) or not value:
        raise GatewayError.bad_request(
            "messages", "messages: must be a non-empty array of messages"
        )
    out = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise GatewayError.bad_request(
                "messages", f"{where}: must be an object with 'role' and 'content'"
            )
        role = message.get("role")
        if role == "function" or message.get("function_call") is not None:
            raise GatewayError.bad_request(
                "messages",
                f"{where}: legacy function messages are not supported; use 'tool_calls' "
                "and 'tool' messages",
                code="unsupported_parameter",
            )
        item = {key: message[key] for key in _MESSAGE_KEYS if message.get(key) is not None}
        item["role"] = _ROLES.get(role, role) if isinstance(role, str) else role
        item["content"] = _joined_text(item.get("content"))
        out.append(item)
    return out


def _joined_text(content: Any) -> Any:
    """A list of only text parts as one string, the parts' texts on separate lines (as
    this gateway always did); anything else unchanged, for the SDK to validate."""
    if (
        isinstance(content, list)
        and content
        and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        )
    ):
        return "\n".join(p["text"] for p in content)
    return content


def _field_of(capability: str, request: LLMRequest) -> str:
    """The request field that makes ``request`` need ``capability``."""
    if capability == "tools":
        return "tools" if request.tools else "messages"
    if capability in ("json_object", "json_schema"):
        return "response_format"
    if capability in ("images", "image_urls"):
        return "messages"
    return capability  # stop, seed


def refuse_incapable(
    request: LLMRequest,
    reachable: Collection[ProviderName],
    capabilities: Mapping[ProviderName, Collection[str]],
) -> None:
    """400 ``unsupported_parameter`` naming the field when no provider of ``reachable``
    (the chain without the stub, or the pinned provider; empty for the stub alone) has
    a capability ``request`` needs. ``capabilities``: each provider's declared set."""
    needed = request.needed_capabilities()
    if not needed:
        return
    for capability in CAPABILITIES:  # a stable order: the first missing one is named
        if capability not in needed:
            continue
        if any(capability in capabilities.get(p, ()) for p in reachable):
            continue
        field = _field_of(capability, request)
        what = CAPABILITIES[capability]
        if request.provider is not None:
            whom = f"the pinned provider {request.provider.value} has no"
        else:
            names = ", ".join(p.value for p in reachable) or "only local_stub"
            whom = f"no provider of this gateway's chain ({names}) has"
        raise GatewayError.bad_request(
            field,
            f"{field}: {whom} {what} support (`sarvanom providers` lists what each "
            "provider supports)",
            code="unsupported_parameter",
        )


# -- answers --------------------------------------------------------------------------------
def finish_reason(response: LLMResponse | None) -> str:
    """OpenAI's ``finish_reason`` for ``response`` (``stop`` when unknown; ``tool_calls``
    when the model called tools and the provider did not say otherwise)."""
    if response is None:
        return "stop"
    reason = response.finish_reason
    reason = _FINISH.get(reason, reason) if reason else None
    if reason in FINISH_REASONS:
        return reason
    return "tool_calls" if response.tool_calls else "stop"


def message_body(response: LLMResponse) -> dict[str, Any]:
    """``choices[0].message``: ``content`` (null when the model only called tools),
    ``tool_calls`` when there are any, ``reasoning_content`` when there is reasoning."""
    content: str | None = response.content
    if response.tool_calls and not content:
        content = None
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if response.tool_calls:
        message["tool_calls"] = [call.to_openai() for call in response.tool_calls]
    if response.reasoning:
        message["reasoning_content"] = response.reasoning
    return message


def _tool_call_delta(delta: ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": delta.index}
    function: dict[str, Any] = {}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    if delta.name:
        function["name"] = delta.name
    function["arguments"] = delta.arguments
    out["function"] = function
    return out


def chunk_delta(chunk: StreamChunk, first: bool) -> dict[str, Any]:
    """A ``chat.completion.chunk``'s ``delta`` for ``chunk`` (``role`` on the first)."""
    delta: dict[str, Any] = {"role": "assistant"} if first else {}
    if chunk.text or not (chunk.reasoning or chunk.tool_calls):
        delta["content"] = chunk.text
    if chunk.reasoning:
        delta["reasoning_content"] = chunk.reasoning
    if chunk.tool_calls:
        delta["tool_calls"] = [_tool_call_delta(d) for d in chunk.tool_calls]
    return delta


#: ``json.dumps`` of a plain text piece's delta, around its encoded text.
_TEXT_DELTA = ('{"content": ', '{"role": "assistant", "content": ')


def delta_json(chunk: StreamChunk, first: bool) -> str:
    """``json.dumps(chunk_delta(chunk, first))``, without building the dict for a piece
    that is only text (no reasoning, no tool calls)."""
    if chunk.reasoning or chunk.tool_calls:
        return json.dumps(chunk_delta(chunk, first))
    return _TEXT_DELTA[first] + json.dumps(chunk.text) + "}"
