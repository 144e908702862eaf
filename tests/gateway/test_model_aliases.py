"""Issue 15 item 3: model aliases (``SARVANOM_MODEL_ALIASES``) and ``sarvanom serve
--default-model``, with the official ``openai`` client asking for ``gpt-4o-mini`` (an app's
hard-coded name, LangChain's default), which was a 404 before."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from aiohttp import web
from click.testing import CliRunner
from gateway_helpers import ThreadedGateway, openai_client
from sarvanom_cli import serve as serve_module
from sarvanom_cli.serve import serve

from sarvanom_sdk import AsyncSarvanClient, ConfigurationError, Settings
from sarvanom_sdk.gateway import CallerPolicy, create_app
from sarvanom_sdk.gateway import server as gateway_server
from sarvanom_sdk.gateway.app import GATEWAY
from sarvanom_sdk.gateway.models import resolve
from sarvanom_sdk.testing import ProviderEmulator
from sarvanom_sdk.types import ProviderName

HI = [{"role": "user", "content": "What is the capital of France?"}]
ALIASES = "gpt-4o-mini=sarvanom/auto,claude-3-5-haiku-latest=sarvanom/auto"


def _client(emu: ProviderEmulator, **overrides: Any) -> AsyncSarvanClient:
    return AsyncSarvanClient(Settings(ollama_base_url=emu.url_for("ollama"), **overrides))


@pytest.fixture
def aliased(emulator: ProviderEmulator):
    app = create_app(_client(emulator, model_aliases=ALIASES))
    with ThreadedGateway(app) as gateway:
        yield gateway


def test_issue15_an_alias_answers_through_the_chain_and_names_the_real_model(
    aliased: ThreadedGateway, emulator: ProviderEmulator
) -> None:
    client = openai_client(aliased)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    completion = raw.parse()
    assert completion.choices[0].message.content.startswith("Emulated ollama answer")
    assert completion.model == "sarvanom/ollama_local/deepseek-r1:8b"  # not "gpt-4o-mini"
    assert raw.headers["x-sarvanom-model"] == "deepseek-r1:8b"
    assert emulator.requests("ollama")[-1].json["model"] == "deepseek-r1:8b"


def test_issue15_an_alias_streams_and_every_chunk_names_the_real_model(
    aliased: ThreadedGateway,
) -> None:
    client = openai_client(aliased)
    chunks = list(
        client.chat.completions.create(model="claude-3-5-haiku-latest", messages=HI, stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Emulated ollama answer")
    assert chunks and all(c.model == "sarvanom/ollama_local/deepseek-r1:8b" for c in chunks)


def test_issue15_models_lists_the_aliases_with_their_targets(aliased: ThreadedGateway) -> None:
    client = openai_client(aliased)
    ids = [m.id for m in client.models.list()]
    assert ids == [
        "sarvanom/auto",
        "sarvanom/ollama_local",
        "sarvanom/local_stub",
        "gpt-4o-mini",
        "claude-3-5-haiku-latest",
    ]
    card = client.models.retrieve("gpt-4o-mini")
    assert card.id == "gpt-4o-mini"
    assert card.model_extra["alias_of"] == "sarvanom/auto"


def test_issue15_without_a_default_other_names_are_still_404(aliased: ThreadedGateway) -> None:
    client = openai_client(aliased)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert caught.value.code == "model_not_found"
    assert "gpt-4o-mini" in caught.value.message  # the aliases are among the names served


def test_issue15_the_default_model_answers_unknown_names_but_not_unknown_sarvanom_names(
    emulator: ProviderEmulator,
) -> None:
    app = create_app(_client(emulator, model_aliases="*=sarvanom/ollama_local"))
    with ThreadedGateway(app) as gateway:
        client = openai_client(gateway)
        completion = client.chat.completions.create(model="some-hard-coded-model", messages=HI)
        assert completion.model == "sarvanom/ollama_local/deepseek-r1:8b"
        assert client.models.retrieve("whatever-name").model_extra["alias_of"] == (
            "sarvanom/ollama_local"
        )
        assert "*" not in [m.id for m in client.models.list()]
        with pytest.raises(openai.NotFoundError):  # an explicit sarvanom name is never defaulted
            client.chat.completions.create(model="sarvanom/nope", messages=HI)
        with pytest.raises(openai.NotFoundError, match="paid API disabled"):
            client.chat.completions.create(model="sarvanom/openai", messages=HI)


def test_issue15_an_alias_to_a_provider_not_in_the_chain_is_404_with_the_reason(
    emulator: ProviderEmulator,
) -> None:
    app = create_app(_client(emulator, model_aliases="gpt-4o-mini=sarvanom/openai"))
    with ThreadedGateway(app) as gateway, pytest.raises(openai.NotFoundError) as caught:
        openai_client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert "paid API disabled" in caught.value.message
    assert "alias of sarvanom/openai" in caught.value.message


def test_issue15_an_alias_pin_is_the_operators_choice_not_a_caller_override(
    emulator: ProviderEmulator,
) -> None:
    """Callers may not pin providers here, but the operator's alias may: it is not refused
    as a caller override; a caller's own pin still is."""
    client = _client(emulator, model_aliases="gpt-4o-mini=sarvanom/ollama_local/llama3.2:1b")
    app = create_app(client, callers=CallerPolicy.parse("none"))
    with ThreadedGateway(app) as gateway:
        oai = openai_client(gateway)
        completion = oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
        assert completion.model == "sarvanom/ollama_local/llama3.2:1b"
        assert emulator.requests("ollama")[-1].json["model"] == "llama3.2:1b"
        with pytest.raises(openai.BadRequestError, match="not allowed"):
            oai.chat.completions.create(model="sarvanom/ollama_local", messages=HI)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("gpt-4o-mini=auto", "'auto' is not a sarvanom model name"),
        ("gpt-4o-mini=sarvanom/bogus", "providers: ollama_local"),
        ("x=sarvanom/local_stub/m", "the stub has no models"),
        ("sarvanom/auto=sarvanom/ollama_local", "may not begin with 'sarvanom/'"),
        ("a=sarvanom/auto,a=sarvanom/auto", "listed twice"),
        ("gpt-4o-mini", "expected name=sarvanom/<target>"),
    ],
)
def test_issue15_bad_aliases_are_refused_naming_the_variable(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="SARVANOM_MODEL_ALIASES") as caught:
        Settings(model_aliases=raw)
    assert message in str(caught.value)
    with pytest.raises(ConfigurationError):
        Settings.from_env({"SARVANOM_MODEL_ALIASES": raw}, env_file=None)


def test_issue15_resolution_is_one_function_for_every_ingress() -> None:
    settings = Settings(model_aliases="gpt-4o-mini=sarvanom/local_stub")
    resolved = resolve("gpt-4o-mini", settings)
    assert (resolved.provider, resolved.model, resolved.alias) == (
        ProviderName.LOCAL_STUB, None, "gpt-4o-mini"
    )
    assert resolved.caller_fields() == {}
    assert resolved.operator_fields() == {"provider": ProviderName.LOCAL_STUB}


@pytest.fixture
def fake_serve(monkeypatch, tmp_path) -> list[web.Application]:
    monkeypatch.chdir(tmp_path)  # no .env file is read
    apps: list[web.Application] = []

    def run(app: web.Application, host: str, port: int, **options: Any) -> None:
        apps.append(app)

    monkeypatch.setattr(gateway_server, "serve", run)
    monkeypatch.setattr(serve_module, "_configure_logging", lambda level: None)
    monkeypatch.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    monkeypatch.setenv("SARVANOM_GATEWAY_WORKERS", "1")  # one process: server.serve is faked
    return apps


def test_issue15_serve_default_model_keeps_the_environments_aliases(
    fake_serve: list[web.Application], monkeypatch
) -> None:
    aliases = "gpt-4o-mini=sarvanom/local_stub,*=sarvanom/local_stub"
    monkeypatch.setenv("SARVANOM_MODEL_ALIASES", aliases)
    result = CliRunner().invoke(serve, ["--default-model", "sarvanom/auto"])
    assert result.exit_code == 0, result.output
    settings = fake_serve[0][GATEWAY].client.settings
    assert settings.model_aliases == "gpt-4o-mini=sarvanom/local_stub,*=sarvanom/auto"


def test_issue15_serve_refuses_a_default_model_that_is_not_a_sarvanom_name(
    fake_serve: list[web.Application],
) -> None:
    result = CliRunner().invoke(serve, ["--default-model", "gpt-4o"])
    assert result.exit_code == 1
    assert "--default-model" in result.output and "'gpt-4o' is not a sarvanom model name" in (
        result.output
    )
    assert fake_serve == []
