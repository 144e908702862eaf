"""Checking a provider's answer against what the request asked for (issue 14 item 2).

A provider that answers a ``json_schema`` request with text that does not validate, or
asks for a tool with arguments that are not a JSON object, has failed: the check raises
:class:`~sarvanom_sdk.errors.BadResponseError` (``malformed_reply``) and the router tries
the next provider, as for any malformed reply. Shared by the complete, hedged and stream
flows; no I/O.
"""

from __future__ import annotations

from dataclasses import replace

from .chat import parse_output, tool_call_problem
from .errors import BadResponseError
from .providers.base import Completion
from .types import LLMRequest, ProviderName

#: The error_type of a provider skipped for lacking a capability the request needs.
UNSUPPORTED = "unsupported"


def checked_answer(
    request: LLMRequest, completion: Completion, provider: ProviderName
) -> Completion:
    """``completion`` checked against what ``request`` asked for (issue 14 item 2): every
    tool call's arguments a JSON object; for a ``json_object``/``json_schema`` request
    without tool calls, ``content`` parsed (and validated against the schema) into
    ``parsed``. A reply that fails is :class:`BadResponseError` (``malformed_reply``): that
    provider failed, and the next one is tried."""
    if completion.tool_calls:
        problem = tool_call_problem(completion.tool_calls)
        if problem:
            raise BadResponseError(problem, provider=provider.value)
        return completion  # the model asked for a tool instead of answering
    form = request.response_format
    if form is None:
        return completion
    try:
        parsed = parse_output(form, completion.content)
    except ValueError as error:
        raise BadResponseError(str(error), provider=provider.value) from None
    return replace(completion, parsed=parsed)
