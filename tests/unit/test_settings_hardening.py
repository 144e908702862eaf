"""Issue 12, configuration side: F4 (a found .env cannot redirect a real key; keyed URLs need
https), F10 (model names never change the request path), F11 (URLs shown without
credentials), F16 (.env encodings), F18 (keys HTTP headers cannot carry).

Each test fails on commit 44ee82a and passes after the fix.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sarvanom_cli.main import cli

from sarvanom_sdk import AsyncSarvanClient, LLMRequest, SarvanClient
from sarvanom_sdk.errors import ConfigurationError, InvalidRequestError
from sarvanom_sdk.providers.huggingface import HuggingFaceAdapter
from sarvanom_sdk.settings import Settings, display_url

REAL_KEY = "sk-REAL-user-key-0123456789abcdef"
ATTACKER = "https://attacker.example/v1"


@pytest.fixture(autouse=True)
def _no_keys(clean_env: pytest.MonkeyPatch) -> None:
    """No key or base URL from the suite's canaries: each test sets what it needs."""


@pytest.fixture
def cwd(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working directory (a "cloned repository"), no provider configured."""
    clean_env.chdir(tmp_path)
    return tmp_path


def write_env(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- F4: a .env found in the current directory cannot redirect a real key ----------------------
@pytest.mark.parametrize(
    ("dotenv", "key_var", "setting"),
    [
        (
            f"OPENAI_BASE_URL={ATTACKER}\nENABLE_PAID_API=true\n",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ),
        ("ENABLE_PAID_API=true\n", "OPENAI_API_KEY", "ENABLE_PAID_API"),
        (f"ANTHROPIC_BASE_URL={ATTACKER}\n", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        (f"HUGGINGFACE_BASE_URL={ATTACKER}\n", "HUGGINGFACE_API_KEY", "HUGGINGFACE_BASE_URL"),
        ("GPU_REMOTE_URL=https://box.attacker.example\n", "GPU_REMOTE_TOKEN", "GPU_REMOTE_URL"),
        ("SARVANOM_PROVIDERS=huggingface\n", "HUGGINGFACE_API_KEY", "SARVANOM_PROVIDERS"),
    ],
)
def test_f4_an_implicit_dotenv_cannot_redirect_a_key_from_the_environment(
    cwd: Path, clean_env: pytest.MonkeyPatch, dotenv: str, key_var: str, setting: str
) -> None:
    write_env(cwd / ".env", dotenv)
    clean_env.setenv(key_var, REAL_KEY)
    with pytest.raises(ConfigurationError) as caught:
        SarvanClient()
    message = str(caught.value)
    assert caught.value.variable == setting
    assert setting in message and key_var in message
    assert "--env-file" in message and "in the environment" in message
    assert REAL_KEY not in message and "attacker" not in message


def test_f4_the_cli_refuses_too_and_sends_nothing(cwd: Path, clean_env: pytest.MonkeyPatch) -> None:
    write_env(cwd / ".env", f"OPENAI_BASE_URL={ATTACKER}\nENABLE_PAID_API=true\n")
    clean_env.setenv("OPENAI_API_KEY", REAL_KEY)
    for command in (["complete", "hi"], ["providers"], ["health"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1, command
        assert result.stderr.startswith("Error: OPENAI_BASE_URL: comes from .env")
        assert REAL_KEY not in result.output and "Traceback" not in result.stderr


def test_f4_a_keyword_key_is_trusted_like_the_environment(cwd: Path) -> None:
    write_env(cwd / ".env", f"HUGGINGFACE_BASE_URL={ATTACKER}\n")
    with pytest.raises(ConfigurationError, match="HUGGINGFACE_API_KEY comes from a keyword"):
        SarvanClient(huggingface_api_key=REAL_KEY)
    # a keyword URL wins over the file's, so nothing is redirected
    client = SarvanClient(huggingface_api_key=REAL_KEY, huggingface_base_url="https://hf.example")
    assert client.settings.huggingface_base_url == "https://hf.example"


def test_f4_an_explicit_env_file_is_trusted(cwd: Path, clean_env: pytest.MonkeyPatch) -> None:
    chosen = write_env(cwd / "team.env", f"OPENAI_BASE_URL={ATTACKER}\nENABLE_PAID_API=true\n")
    clean_env.setenv("OPENAI_API_KEY", REAL_KEY)
    assert SarvanClient(env_file=str(chosen)).settings.openai_base_url == ATTACKER
    assert Settings.from_env(env_file=chosen).enable_paid_api is True
    # the same file named by SARVANOM_ENV_FILE in the real environment
    clean_env.setenv("SARVANOM_ENV_FILE", str(chosen))
    assert Settings.from_env().openai_base_url == ATTACKER


def test_f4_a_dotenv_holding_both_key_and_url_works(cwd: Path) -> None:
    write_env(
        cwd / ".env",
        f"OPENAI_API_KEY=sk-from-the-dotenv-0123456\nOPENAI_BASE_URL={ATTACKER}\n"
        "ENABLE_PAID_API=true\n",
    )
    settings = SarvanClient().settings
    assert settings.openai_base_url == ATTACKER and settings.enable_paid_api


def test_f4_a_dotenv_turning_paid_use_off_is_fine(cwd: Path, clean_env: pytest.MonkeyPatch) -> None:
    write_env(cwd / ".env", "ENABLE_PAID_API=false\nOLLAMA_BASE_URL=http://127.0.0.1:9\n")
    clean_env.setenv("OPENAI_API_KEY", REAL_KEY)
    settings = Settings.from_env()
    assert settings.enable_paid_api is False and settings.ollama_base_url == "http://127.0.0.1:9"


def test_f4_a_missing_sarvanom_env_file_is_an_error(
    cwd: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SARVANOM_ENV_FILE", str(cwd / "nope.env"))
    with pytest.raises(ConfigurationError, match="SARVANOM_ENV_FILE: names no readable file"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"openai_api_key": REAL_KEY, "enable_paid_api": True,
          "openai_base_url": "http://api.example.com/v1"}, "OPENAI_BASE_URL"),
        ({"anthropic_api_key": REAL_KEY, "enable_paid_api": True,
          "anthropic_base_url": "http://api.example.com"}, "ANTHROPIC_BASE_URL"),
        ({"huggingface_api_key": REAL_KEY,
          "huggingface_base_url": "http://10.0.0.5:8080/v1"}, "HUGGINGFACE_BASE_URL"),
        ({"gpu_remote_url": "http://gpu.example.com"}, "GPU_REMOTE_URL"),
    ],
)
def test_f4_a_keyed_base_url_must_be_https_unless_loopback(
    overrides: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"{variable}: must be https://") as caught:
        Settings.from_env(env_file=None, **overrides)
    assert REAL_KEY not in str(caught.value)
    # the explicit opt-out for a trusted LAN
    allowed = Settings.from_env(env_file=None, allow_http_keyed_urls=True, **overrides)
    assert allowed.allow_http_keyed_urls
    # loopback is fine
    url_field = next(name for name in overrides if name.endswith("_url"))
    Settings.from_env(env_file=None, **{**overrides, url_field: "http://127.0.0.1:8080/v1"})


def test_f4_an_unkeyed_http_url_is_fine(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env(
        env_file=None, ollama_base_url="http://gpu-box.lan:11434",
        huggingface_base_url="http://10.0.0.5:8080/v1",  # no HF key set: nothing to leak
        openai_api_key=REAL_KEY, openai_base_url="http://api.example.com/v1",  # paid off
    )
    assert settings.ollama_base_url == "http://gpu-box.lan:11434"


def test_f4_the_http_opt_out_comes_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HUGGINGFACE_API_KEY", REAL_KEY)
    clean_env.setenv("HUGGINGFACE_BASE_URL", "http://10.0.0.5:8080/v1")
    with pytest.raises(ConfigurationError, match="SARVANOM_ALLOW_HTTP_KEYED_URLS"):
        Settings.from_env(env_file=None)
    clean_env.setenv("SARVANOM_ALLOW_HTTP_KEYED_URLS", "true")
    assert Settings.from_env(env_file=None).huggingface_base_url == "http://10.0.0.5:8080/v1"


# -- F10: model names never change the request path --------------------------------------------
BAD_MODELS = ["../../billing-team/admin", "x?api_key_in_query=1", "x#frag", "%2e%2e/escape",
              "a\\b", "/abs", "a/./b", "a//b", "a\nb", "a b"]


@pytest.mark.parametrize("model", BAD_MODELS)
def test_f10_a_task_model_that_would_change_the_path_is_refused(model: str) -> None:
    adapter = HuggingFaceAdapter(api_key="hf_x", default_model="org/m", api="task",
                                 base_url="https://proxy.example/tgi-team-a")
    request = LLMRequest(prompt="hi", provider="huggingface", model=model)
    with pytest.raises(InvalidRequestError) as caught:
        adapter.build(request)
    assert caught.value.field == "model"


def test_f10_a_task_model_is_quoted_and_keeps_its_slash() -> None:
    adapter = HuggingFaceAdapter(api_key="hf_x", default_model="org/m", api="task",
                                 base_url="https://proxy.example/tgi")
    call = adapter.build(LLMRequest(prompt="hi", provider="huggingface", model="org/Mo:del"))
    assert call.url == "https://proxy.example/tgi/models/org/Mo%3Adel"
    assert adapter.build(LLMRequest(prompt="hi")).url == "https://proxy.example/tgi/models/org/m"


def test_f10_a_bad_configured_task_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="HUGGINGFACE_MODEL"):
        HuggingFaceAdapter(api_key="hf_x", default_model="../admin", api="task")


@pytest.mark.parametrize("model", ["../escape", "x?q=1", "x#f"])
def test_f10_no_request_leaves_either_client(provider_emulator: Any, model: str) -> None:
    options = {
        "env_file": None, "providers": "huggingface", "huggingface_api": "task",
        "huggingface_api_key": "hf_test_key_0123456789",
        "huggingface_base_url": provider_emulator.url_for("huggingface_task"),
    }
    request = {"provider": "huggingface", "model": model}
    with SarvanClient(**options) as client, pytest.raises(InvalidRequestError, match="model"):
        client.complete("hi", **request)

    async def run() -> None:
        async with AsyncSarvanClient(**options) as client:
            with pytest.raises(InvalidRequestError, match="model"):
                await client.complete("hi", **request)

    asyncio.run(run())
    assert provider_emulator.request_count() == 0
    with SarvanClient(**options) as client:  # a good name does go out
        assert client.complete("hi", provider="huggingface", model="org/m").success
    assert provider_emulator.request_count() == 1


# -- F11: URLs shown without credentials or query ---------------------------------------------
def test_f11_repr_shows_urls_without_userinfo_or_query() -> None:
    settings = Settings.from_env(
        env_file=None,
        gpu_remote_url="https://tunnel-user:TunnelPassw0rd@box.example:8443/gpu?t=QueryTok",
        ollama_base_url="http://u:OllamaPw@127.0.0.1:11434,http://127.0.0.2:11434",
        redis_url="redis://:Ab3/cd+EF@127.0.0.1:6379/0?password=RedisQueryPw",
    )
    shown = repr(settings)
    for secret in ("TunnelPassw0rd", "tunnel-user", "QueryTok", "OllamaPw", "Ab3", "cd+EF",
                   "RedisQueryPw"):
        assert secret not in shown
    assert "gpu_remote_url='https://box.example:8443/gpu'" in shown
    assert "ollama_base_url='http://127.0.0.1:11434,http://127.0.0.2:11434'" in shown
    assert "redis_url='redis://127.0.0.1:6379/0'" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h:1/x?y=1#z", "https://h:1/x"),
        ("redis://:pa/ss?w#rd@h:6379/0", "redis://h:6379/0"),
        ("unix:///run/redis.sock?password=x", "unix:///run/redis.sock"),
        ("sk-pasted-key-in-the-wrong-place", "<not a URL>"),
    ],
)
def test_f11_display_url(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_f11_the_providers_command_shows_no_url_credentials(
    cwd: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("GPU_REMOTE_URL", "https://tunnel-user:TunnelPassw0rd@box.example/?k=Qv")
    clean_env.setenv("OLLAMA_BASE_URL", "http://ou:OllamaPw@127.0.0.1:9")
    result = CliRunner().invoke(cli, ["providers"])
    assert result.exit_code == 0
    assert "https://box.example/" in result.stdout and "http://127.0.0.1:9" in result.stdout
    for secret in ("TunnelPassw0rd", "tunnel-user", "OllamaPw", "Qv"):
        assert secret not in result.output


def test_f11_a_token_with_url_credentials_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env_file=None, gpu_remote_url="https://u:BoxBasicPw@box.example",
                          gpu_remote_token="gpu-token-0123456789")
    message = str(caught.value)
    assert message.startswith("GPU_REMOTE_URL: holds credentials")
    assert "GPU_REMOTE_TOKEN" in message
    assert "BoxBasicPw" not in message and "gpu-token" not in message


def test_f11_a_malformed_url_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env_file=None, gpu_remote_url="htps://tunnel-user:TypoPassw0rd@box")
    assert "must be an http:// or https:// URL" in str(caught.value)
    assert "TypoPassw0rd" not in str(caught.value) and "tunnel-user" not in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env_file=None, ollama_base_url="http://u:Ab3/x@127.0.0.1:6379")
    assert "Ab3" not in str(caught.value) and "OLLAMA_BASE_URL" in str(caught.value)


# -- F16: .env encodings --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("OLLAMA_MODEL=caf\u00e9\n".encode("latin-1"), "is not UTF-8"),
        ("OLLAMA_MODEL=x\n".encode("utf-16"), "is UTF-16"),
    ],
)
def test_f16_a_dotenv_that_is_not_utf8_is_a_configuration_error(
    cwd: Path, data: bytes, problem: str
) -> None:
    (cwd / ".env").write_bytes(data)
    with pytest.raises(ConfigurationError, match=f"^.env: {problem}"):
        Settings.from_env()
    result = CliRunner().invoke(cli, ["providers"])
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: .env: {problem}")
    assert "Traceback" not in result.output


def test_f16_a_utf8_bom_is_skipped(cwd: Path) -> None:
    (cwd / ".env").write_bytes(b"\xef\xbb\xbfSARVANOM_FALLBACK_TO_STUB=false\n")
    assert Settings.from_env().fallback_to_stub is False


# -- F18: keys HTTP headers cannot carry -----------------------------------------------------
@pytest.mark.parametrize(
    ("key", "what"),
    [
        ("sk\u2011abcdefghijklmnop", "a non-ASCII character"),
        ("sk-abcdefgh\x01ijklmnop", "a control character"),
        ("sk-abcdefgh\r\nX-Injected: 1", "a control character"),
        ("sk-abcdefgh ijklmnop", "a whitespace character"),
    ],
)
@pytest.mark.parametrize(
    "field", ["openai_api_key", "anthropic_api_key", "huggingface_api_key", "gpu_remote_token"]
)
def test_f18_a_key_headers_cannot_carry_is_refused(field: str, key: str, what: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env_file=None, **{field: key})
    variable = Settings.__dataclass_fields__[field].metadata["env"]
    assert str(caught.value).startswith(f"{variable}: holds {what}")
    assert "abcdefgh" not in str(caught.value)


def test_f18_surrounding_whitespace_is_stripped(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "  sk-abcdefghijklmnop\n")
    assert Settings.from_env(env_file=None).openai_api_key == "sk-abcdefghijklmnop"
