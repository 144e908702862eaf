"""Issue 14 against a real model: llama.cpp's server turns ``response_format``
``json_schema`` into a grammar, so even SmolLM2-135M must answer schema-valid JSON through
every adapter that speaks the OpenAI protocol (openai, Hugging Face's router, a remote GPU
box declared ``openai``), on both clients; the SDK parses and checks it into
``resp.parsed``.

What the shipped model can and cannot do (probed by hand with this server):

* ``json_schema``: yes — the grammar makes the JSON valid and schema-shaped; the facts in
  it are often wrong (a 135M model), and a ``max_tokens`` too small for the object cuts it
  (then the SDK calls the reply malformed rather than pass half a JSON off as parsed).
* ``json_object``: valid JSON as far as it goes, but rambling objects often reach
  ``max_tokens`` (``finish_reason: length``) and are cut.
* tools: no. SmolLM2's chat template has no tool section, so the server leaves ``tools``
  out of the prompt; with a ChatML template that has one (``--chat-template-file``) the
  tools reach the prompt but the model still answers in prose, and this server does not
  force a call for ``tool_choice: "required"``. No real tool-call test is possible with it.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from drivers import DRIVERS, Driver
from test_sdk_real_model import HUGGINGFACE, OPENAI, REMOTE_GPU, Protocol

from sarvanom_sdk import ProviderName
from sarvanom_sdk.schema import builtin_validate

pytestmark = pytest.mark.real_model

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "population": {"type": "integer"},
    },
    "required": ["city", "population"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": SCHEMA}}
PROMPT = "Name the largest city in Norway and its population."
REQUEST: dict[str, Any] = {
    "prompt": PROMPT,
    "max_tokens": 64,
    "temperature": 0,
    "cache": False,
    "response_format": FORMAT,
}
#: A loaded 2-core machine runs this model at a few tokens a second: generous limits.
SLOW: dict[str, Any] = {
    "attempt_timeout": 180.0,
    "total_timeout": 400.0,
    "first_token_timeout": 180.0,
}


class City(pydantic.BaseModel):
    city: str
    population: int


by_driver = pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
openai_protocols = pytest.mark.parametrize(
    "protocol", (OPENAI, HUGGINGFACE, REMOTE_GPU), ids=lambda p: p.provider.value
)


def assert_schema_valid(parsed: Any, content: str) -> None:
    assert json.loads(content) == parsed
    assert builtin_validate(parsed, SCHEMA) is None
    assert set(parsed) == {"city", "population"}
    assert isinstance(parsed["population"], int) and not isinstance(parsed["population"], bool)


@by_driver
@openai_protocols
def test_issue14_json_schema_through_each_openai_protocol_adapter(
    driver: Driver, protocol: Protocol, llama_base_url: str
) -> None:
    run = driver.complete(protocol.settings(llama_base_url, **SLOW), [REQUEST])
    (response,) = run.responses
    assert response.success, response.error_message
    assert response.provider is protocol.provider
    assert response.finish_reason == "stop"
    assert_schema_valid(response.parsed, response.content)
    (url,) = run.urls
    assert url == protocol.url(llama_base_url)


@by_driver
def test_issue14_streamed_json_schema_with_a_pydantic_model(
    driver: Driver, llama_base_url: str
) -> None:
    request = {**REQUEST, "response_format": City}
    streamed = driver.stream(OPENAI.settings(llama_base_url, **SLOW), request)
    response = streamed.response
    assert response is not None and response.success, response
    assert response.provider is ProviderName.OPENAI
    assert response.content == streamed.text
    assert_schema_valid(response.parsed, streamed.text)
    City.model_validate(response.parsed)


@by_driver
def test_issue14_a_structured_answer_cut_by_max_tokens_is_not_passed_off(
    driver: Driver, llama_base_url: str
) -> None:
    """Three tokens cannot hold the object: the reply is malformed, never a parsed
    half; with nothing else in the chain the stub answers, saying why."""
    run = driver.complete(OPENAI.settings(llama_base_url, **SLOW), [{**REQUEST, "max_tokens": 3}])
    (response,) = run.responses
    assert response.provider is ProviderName.LOCAL_STUB and response.parsed is None
    failed = response.attempts[0]
    assert (failed.provider, failed.error_type) == (ProviderName.OPENAI, "malformed_reply")
    assert "not JSON" in failed.reason
