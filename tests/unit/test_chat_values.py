"""Issue 14 items 1-2 and 5: the chat surface's request and response values.

Every new field is validated on construction with an InvalidRequestError naming the
field (before any network call), OpenAI's shapes are accepted and normalised into
:mod:`sarvanom_sdk.chat` values, and a request says which capabilities it needs.
"""

from __future__ import annotations

import json

import pydantic
import pytest

from sarvanom_sdk.chat import (
    CAPABILITIES,
    ImagePart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    assemble_tool_calls,
    unsupported_reason,
)
from sarvanom_sdk.client import make_request
from sarvanom_sdk.errors import InvalidRequestError
from sarvanom_sdk.providers.base import Completion, StreamEvent
from sarvanom_sdk.recovery import with_prefill
from sarvanom_sdk.types import LLMRequest, LLMResponse, Message, ProviderName, StreamChunk

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
    "DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)


def field_of(excinfo: pytest.ExceptionInfo[InvalidRequestError]) -> str:
    return excinfo.value.field


# -- tools ----------------------------------------------------------------------------


def test_issue14_tools_accept_openai_flat_and_value_shapes() -> None:
    flat = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
    request = LLMRequest(prompt="hi", tools=[WEATHER, flat, Tool("third")])
    assert request.tools is not None
    assert [t.name for t in request.tools] == ["get_weather", "lookup", "third"]
    assert request.tools[0].description == "Weather in a city"
    assert request.tools[0].parameters == WEATHER["function"]["parameters"]
    assert request.tools[2].schema() == {"type": "object", "properties": {}}


def test_issue14_empty_tool_list_is_no_tools() -> None:
    request = LLMRequest(prompt="hi", tools=[], tool_choice="auto")
    assert request.tools is None and request.tool_choice is None
    assert request.needed_capabilities() == frozenset()


@pytest.mark.parametrize(
    ("tools", "field"),
    [
        ("get_weather", "tools"),
        ({"name": "x"}, "tools"),
        ([{"type": "function", "function": {"name": "has space"}}], "tools[0].name"),
        ([{"type": "retrieval"}], "tools[0].type"),
        ([{"name": "f", "parameters": "a schema"}], "tools[0].parameters"),
        ([{"name": "f", "description": 3}], "tools[0].description"),
        ([{"name": "f"}, {"name": "f"}], "tools[1].name"),
        ([{"name": f"f{i}"} for i in range(129)], "tools"),
        ([{"name": "f", "parameters": {"x": float("nan")}}], "tools[0].parameters"),
    ],
)
def test_issue14_bad_tools_are_refused_naming_the_field(tools: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(prompt="hi", tools=tools)
    assert field_of(excinfo) == field


# -- tool_choice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("auto", ToolChoice("auto")),
        ("none", ToolChoice("none")),
        ("required", ToolChoice("required")),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            ToolChoice("function", "get_weather"),
        ),
        ({"type": "tool", "name": "get_weather"}, ToolChoice("function", "get_weather")),
        ({"type": "any"}, ToolChoice("required")),
        (ToolChoice("function", "get_weather"), ToolChoice("function", "get_weather")),
    ],
)
def test_issue14_tool_choice_shapes(given: object, expected: ToolChoice) -> None:
    assert LLMRequest(prompt="hi", tools=[WEATHER], tool_choice=given).tool_choice == expected


@pytest.mark.parametrize(
    "choice",
    [
        "sometimes",
        {"type": "function", "function": {"name": "other"}},
        {"type": "function"},
        7,
        ToolChoice("maybe"),
    ],
)
def test_issue14_bad_tool_choice_is_refused(choice: object) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(prompt="hi", tools=[WEATHER], tool_choice=choice)
    assert field_of(excinfo) == "tool_choice"


def test_issue14_required_tool_choice_needs_tools() -> None:
    with pytest.raises(InvalidRequestError, match="needs 'tools'"):
        LLMRequest(prompt="hi", tool_choice="required")


def test_issue14_parallel_tool_calls_must_be_boolean() -> None:
    assert LLMRequest(prompt="hi", parallel_tool_calls=False).parallel_tool_calls is False
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(prompt="hi", parallel_tool_calls="yes")
    assert field_of(excinfo) == "parallel_tool_calls"


# -- response_format --------------------------------------------------------------------


def test_issue14_response_format_shapes() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    spec = {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }
    form = LLMRequest(prompt="hi", response_format=spec).response_format
    assert form == ResponseFormat("json_schema", schema, "thing", True)
    assert form is not None and form.to_openai() == spec
    assert LLMRequest(prompt="hi", response_format={"type": "json_object"}).response_format == (
        ResponseFormat("json_object")
    )
    assert LLMRequest(prompt="hi", response_format={"type": "text"}).response_format is None


def test_issue14_response_format_accepts_a_pydantic_model_class() -> None:
    class City(pydantic.BaseModel):
        name: str
        population: int

    form = LLMRequest(prompt="hi", response_format=City).response_format
    assert form is not None and form.type == "json_schema" and form.name == "City"
    assert form.schema is not None and form.schema["required"] == ["name", "population"]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema.schema"),
        (
            {"type": "json_schema", "json_schema": {"schema": "x"}},
            "response_format.json_schema.schema",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}},
            "response_format.json_schema.name",
        ),
        (
            {"type": "json_schema", "json_schema": {"schema": {}, "strict": "yes"}},
            "response_format.json_schema.strict",
        ),
        (["json_object"], "response_format"),
    ],
)
def test_issue14_bad_response_format_is_refused(form: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(prompt="hi", response_format=form)
    assert field_of(excinfo) == field


# -- sampling controls ----------------------------------------------------------------


def test_issue14_sampling_fields_normalised() -> None:
    request = LLMRequest(
        prompt="hi", stop="END", top_p=1, seed=42, presence_penalty=-2, frequency_penalty=0.5
    )
    assert request.stop == ("END",)
    assert request.top_p == 1.0 and isinstance(request.top_p, float)
    assert request.seed == 42
    assert (request.presence_penalty, request.frequency_penalty) == (-2.0, 0.5)
    assert LLMRequest(prompt="hi", stop=["a", "b", "c", "d"]).stop == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"stop": 3}, "stop"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.01}, "top_p"),
        ({"top_p": float("nan")}, "top_p"),
        ({"top_p": True}, "top_p"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"frequency_penalty": "0"}, "frequency_penalty"),
    ],
)
def test_issue14_bad_sampling_fields_are_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(prompt="hi", **options)
    assert field_of(excinfo) == field


# -- messages ---------------------------------------------------------------------------


def tool_conversation() -> list[dict[str, object]]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
    ]


def test_issue14_tool_messages_round_trip_in_openai_shape() -> None:
    request = LLMRequest(messages=tool_conversation(), tools=[WEATHER])
    assert request.messages is not None
    assistant, result = request.messages[1], request.messages[2]
    assert assistant.content is None and assistant.text == ""
    assert assistant.tool_calls == (ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)
    assert assistant.tool_calls[0].parsed_arguments() == {"city": "Paris"}
    assert result.tool_call_id == "call_1"
    assert request.chat_messages() == tool_conversation()
    # what chat_messages() gives is accepted back (stream recovery builds requests so)
    again = LLMRequest(messages=request.chat_messages(), tools=[WEATHER])
    assert again.messages == request.messages and again.tools == request.tools


def test_issue14_tool_call_arguments_as_an_object_become_json_text() -> None:
    message = Message.parse(
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"x": 1}}}],
        },
        "m",
    )
    assert json.loads(message.tool_calls[0].arguments) == {"x": 1}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"role": "tool", "content": "18C"}, "messages[0].tool_call_id"),
        ({"role": "user", "content": "hi", "tool_call_id": "c"}, "messages[0].tool_call_id"),
        ({"role": "assistant", "content": None}, "messages[0].content"),
        ({"role": "user", "content": None}, "messages[0].content"),
        ({"role": "critic", "content": "x"}, "messages[0].role"),
        (
            {
                "role": "user",
                "content": "x",
                "tool_calls": [{"id": "c", "function": {"name": "f"}}],
            },
            "messages[0].tool_calls",
        ),
        (
            {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]},
            "messages[0].tool_calls[0].id",
        ),
        (
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 3}}],
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"role": "user", "content": []}, "messages[0].content"),
        ({"role": "user", "content": [{"type": "audio"}]}, "messages[0].content[0]"),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,AA"}}
                ],
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": PNG, "detail": "max"}}],
            },
            "messages[0].content[0].image_url.detail",
        ),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
            "messages[0].content",
        ),
        ({"role": "user", "content": "x", "name": ""}, "messages[0].name"),
    ],
)
def test_issue14_bad_messages_are_refused_naming_the_field(
    message: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(messages=[message])
    assert field_of(excinfo) == field


def test_issue14_image_parts_and_text_of_a_message() -> None:
    content = [
        {"type": "text", "text": "What is in "},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "text", "text": "this picture?"},
    ]
    request = LLMRequest(messages=[{"role": "user", "content": content}])
    assert request.messages is not None
    message = request.messages[0]
    assert message.content == (
        TextPart("What is in "),
        ImagePart(PNG, "low"),
        TextPart("this picture?"),
    )
    assert message.text == "What is in this picture?"
    assert request.as_text() == "user: What is in this picture?"
    assert request.chat_messages()[0]["content"] == content
    image = message.content[1]
    assert isinstance(image, ImagePart)
    assert image.media_type_and_data() == ("image/png", PNG.split(",", 1)[1])
    # the image's base64 is not prompt text
    assert request.prompt_chars() == len("What is in this picture?")


def test_issue14_lone_surrogate_in_tool_arguments_is_refused() -> None:
    bad = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"a": "\ud83d"}'}}],
    }
    with pytest.raises(InvalidRequestError, match="surrogate"):
        LLMRequest(messages=[bad])


# -- capabilities -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "needed"),
    [
        ({"prompt": "hi"}, set()),
        ({"prompt": "hi", "top_p": 0.5, "presence_penalty": 1}, set()),
        ({"prompt": "hi", "tools": [WEATHER]}, {"tools"}),
        ({"prompt": "hi", "tools": [WEATHER], "tool_choice": "none"}, set()),
        ({"prompt": "hi", "response_format": {"type": "json_object"}}, {"json_object"}),
        (
            {
                "prompt": "hi",
                "response_format": {"type": "json_schema", "json_schema": {"schema": {}}},
            },
            {"json_schema"},
        ),
        ({"prompt": "hi", "stop": "x", "seed": 0}, {"stop", "seed"}),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}
                ]
            },
            {"images"},
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": "https://e.com/a.png"}],
                    }
                ]
            },
            {"image_urls"},
        ),
        ({"messages": tool_conversation()}, {"tools"}),
    ],
)
def test_issue14_needed_capabilities(options: dict[str, object], needed: set[str]) -> None:
    request = LLMRequest(**options)
    assert request.needed_capabilities() == frozenset(needed)
    assert needed <= set(CAPABILITIES)


def test_issue14_unsupported_reason_names_the_capability() -> None:
    assert unsupported_reason({"tools"}) == "no tool support"
    assert unsupported_reason({"seed", "json_schema"}) == "no JSON schema output support"


# -- keyword arguments (both clients build requests with make_request) -----------------


def test_issue14_keyword_arguments_reach_the_request_validated() -> None:
    request = make_request("hi", {"tools": [WEATHER], "tool_choice": "required", "seed": 1})
    assert request.tool_choice == ToolChoice("required") and request.seed == 1
    with pytest.raises(InvalidRequestError) as excinfo:
        make_request("hi", {"top_p": 3})
    assert field_of(excinfo) == "top_p"


def test_issue14_prefill_keeps_tool_history() -> None:
    request = LLMRequest(messages=tool_conversation(), tools=[WEATHER])
    continued = with_prefill(request, "It is 18")
    assert continued.messages is not None
    assert continued.messages[:3] == request.messages
    assert continued.messages[3] == Message("assistant", "It is 18")


# -- responses ----------------------------------------------------------------------------


def test_issue14_assemble_tool_calls_by_index() -> None:
    deltas = [
        ToolCallDelta(0, id="call_a", name="get_weather", arguments='{"ci'),
        ToolCallDelta(1, id="call_b", name="lookup"),
        ToolCallDelta(0, arguments='ty": "Oslo"}'),
        ToolCallDelta(1, arguments="{}"),
    ]
    assert assemble_tool_calls(deltas) == (
        ToolCall("call_a", "get_weather", '{"city": "Oslo"}'),
        ToolCall("call_b", "lookup", "{}"),
    )


def test_issue14_response_and_stream_values_carry_tool_calls() -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    response = LLMResponse(
        success=True,
        provider=ProviderName.OPENAI,
        content="",
        finish_reason="tool_calls",
        tool_calls=(call,),
        parsed=None,
    )
    assert response.to_dict()["tool_calls"] == [call.to_openai()]
    assert Completion("", tool_calls=(call,)).tool_calls == (call,)
    delta = ToolCallDelta(0, "call_1", "get_weather", "{")
    assert StreamEvent(tool_calls=(delta,)).tool_calls == (delta,)
    assert StreamChunk(tool_calls=(delta,)).tool_calls == (delta,)


# -- the adapter contract -------------------------------------------------------------------


def all_adapters() -> list[object]:
    from sarvanom_sdk.providers import (
        AnthropicAdapter,
        HuggingFaceAdapter,
        OllamaAdapter,
        OpenAIAdapter,
        RemoteGPUAdapter,
    )

    return [
        OpenAIAdapter(base_url="https://api.openai.com/v1", default_model="m"),
        AnthropicAdapter(base_url="https://api.anthropic.com", api_key=None, default_model="m"),
        OllamaAdapter(base_url="http://127.0.0.1:11434", default_model="m"),
        HuggingFaceAdapter(api_key=None, default_model="m"),
        HuggingFaceAdapter(api_key=None, default_model="m", api="task"),
        RemoteGPUAdapter(url="http://127.0.0.1:9"),
        RemoteGPUAdapter(url="http://127.0.0.1:9", protocol="openai"),
    ]


def test_issue14_every_adapter_declares_capabilities_and_context_window() -> None:
    for adapter in all_adapters():
        capabilities = adapter.capabilities  # type: ignore[attr-defined]
        assert isinstance(capabilities, frozenset)
        assert capabilities <= set(CAPABILITIES), adapter
        window = adapter.context_window  # type: ignore[attr-defined]
        assert window is None or (isinstance(window, int) and window > 0)
