"""Issue 15 item 1: ``embed()`` on both clients against the emulator — fallback, breaker,
per-text cache, budget, no mixing of vector spaces, the stub's refusal, skipped providers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from parity.drivers import KINDS, Driver, open_driver
from reliability.helpers import chain, fresh

from sarvanom_sdk import AllProvidersFailed, EmbeddingResponse, InvalidRequestError, ProviderName
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.testing._embed_wire import vector_for

HF_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: ProviderEmulator) -> None:
    fresh(emu)


@pytest.fixture(params=KINDS)
def connect(request: pytest.FixtureRequest, emu: ProviderEmulator) -> Iterator[Any]:
    opened: list[Driver] = []

    def make(*providers: str, **overrides: Any) -> Driver:
        driver = open_driver(request.param, **chain(emu, *providers, **overrides))
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        driver.close()


def embed(driver: Driver, texts: Any, **options: Any) -> EmbeddingResponse:
    """``client.embed(...)`` on either kind of client."""
    if driver.kind == "async":
        return driver.run(driver.client.embed(texts, **options))  # type: ignore[attr-defined,no-any-return]
    return driver.client.embed(texts, **options)  # type: ignore[no-any-return]


def sent(emu: ProviderEmulator, provider: str) -> list[list[str]]:
    """The texts of each embedding request ``provider`` received."""
    out = []
    for record in emu.requests(provider):
        body = record.json or {}
        texts = body.get("input", body.get("inputs"))
        if texts is not None:
            out.append(texts)
    return out


def outcomes(error_or_response: Any) -> list[tuple[str, str, str]]:
    return [(a.provider.value, a.outcome.value, a.reason) for a in error_or_response.attempts]


def test_vectors_in_text_order_from_the_first_free_provider(connect: Any, emu: Any) -> None:
    client = connect("ollama", "huggingface")
    got = embed(client, ["alpha", "beta", "alpha"])
    assert got.provider is ProviderName.OLLAMA_LOCAL
    assert got.model == "nomic-embed-text"
    assert got.vectors == [vector_for("nomic-embed-text", t) for t in ("alpha", "beta", "alpha")]
    assert got.dimensions == 768 and got.cost_usd == 0.0
    assert sent(emu, "ollama") == [["alpha", "beta"]]  # a repeated text is sent once
    assert got.trace_id and outcomes(got) == [("ollama_local", "ok", "answered")]


def test_a_failed_provider_falls_back_and_every_vector_comes_from_the_next(
    connect: Any, emu: Any
) -> None:
    emu.inject("ollama", Fault.http(503))
    got = embed(connect("ollama", "huggingface"), ["alpha", "beta"])
    assert got.provider is ProviderName.HUGGINGFACE and got.model == HF_MODEL
    assert got.vectors == [vector_for(HF_MODEL, t) for t in ("alpha", "beta")]
    assert [o[:2] for o in outcomes(got)] == [("ollama_local", "failed"), ("huggingface", "ok")]


@pytest.mark.parametrize(
    "bad", [Fault.malformed_json(), Fault.html(), Fault.empty()], ids=["malformed", "html", "empty"]
)
def test_a_bad_reply_is_a_provider_failure_not_an_answer(connect: Any, emu: Any, bad: Any) -> None:
    emu.inject("ollama", bad)
    got = embed(connect("ollama", "huggingface_task"), "alpha")
    assert got.provider is ProviderName.HUGGINGFACE
    assert got.vectors == [vector_for(HF_MODEL, "alpha")]


def test_the_cache_is_per_text(connect: Any, emu: Any) -> None:
    client = connect("ollama")
    embed(client, ["a", "b"])
    got = embed(client, ["b", "c"])
    assert sent(emu, "ollama") == [["a", "b"], ["c"]]
    assert got.cached == 1
    assert got.vectors == [vector_for("nomic-embed-text", t) for t in ("b", "c")]
    again = embed(client, ["c", "a"])
    assert len(sent(emu, "ollama")) == 2 and again.cached == 2
    assert again.vectors == [vector_for("nomic-embed-text", t) for t in ("c", "a")]
    embed(client, ["a"], cache=False)
    assert len(sent(emu, "ollama")) == 3


def test_a_fallback_never_mixes_cached_vectors_of_another_space(connect: Any, emu: Any) -> None:
    client = connect("ollama", "huggingface")
    embed(client, ["a", "b"])  # a and b cached from ollama's space
    emu.inject("ollama", Fault.http(503))
    got = embed(client, ["a", "c"])
    assert got.provider is ProviderName.HUGGINGFACE
    assert got.vectors == [vector_for(HF_MODEL, t) for t in ("a", "c")]
    assert sent(emu, "huggingface") == [["a", "c"]]


def test_a_call_wholly_cached_in_one_space_makes_no_request(connect: Any, emu: Any) -> None:
    client = connect("ollama", "huggingface")
    emu.inject("ollama", Fault.http(503))
    embed(client, ["a", "b"])  # from huggingface
    fresh(emu)
    emu.inject("ollama", Fault.refuse())
    got = embed(client, ["b", "a"])
    assert got.provider is ProviderName.HUGGINGFACE and got.cached == 2
    assert emu.request_count() == 0


def test_the_embedding_breaker_opens_on_its_own(connect: Any, emu: Any) -> None:
    client = connect("ollama", "huggingface", circuit_fail_max=2)
    emu.inject("ollama", Fault.http(500))
    for text in ("one", "two"):
        embed(client, text)
    third = embed(client, "three")
    assert third.provider is ProviderName.HUGGINGFACE
    assert outcomes(third)[0][:2] == ("ollama_local", "skipped")
    assert "circuit open" in outcomes(third)[0][2]
    assert emu.request_count("ollama", endpoint="generate") == 2  # (and a health probe)
    # the chat breaker of the same host stays closed
    chat = client.client.router.endpoints[ProviderName.OLLAMA_LOCAL][0].circuit
    assert chat.view().state == "closed"
    # and health learned of the failures
    assert client.client._core.health()["ollama_local"].error_count >= 2


def test_the_stub_never_answers_embeddings_even_when_not_strict(connect: Any, emu: Any) -> None:
    client = connect("ollama", fallback_to_stub=True)
    emu.inject("ollama", Fault.http(503))
    with pytest.raises(AllProvidersFailed) as caught:
        embed(client, "alpha")
    assert caught.value.attempts[-1].provider is ProviderName.LOCAL_STUB
    assert "does not answer embeddings" in str(caught.value)
    with pytest.raises(AllProvidersFailed, match="does not answer embeddings"):
        embed(client, "alpha", provider="local_stub")


def test_providers_without_embeddings_are_skipped_with_the_reason(connect: Any, emu: Any) -> None:
    client = connect("remote_gpu", "anthropic", "huggingface_task")
    got = embed(client, "alpha")
    assert got.provider is ProviderName.HUGGINGFACE
    reasons = {p: r for p, _, r in outcomes(got)}
    assert "seed /generate" in reasons["remote_gpu"]
    assert "no embeddings API" in reasons["anthropic"]
    assert emu.request_count("remote_gpu") == emu.request_count("anthropic") == 0


def test_the_remote_box_speaks_openai_embeddings(connect: Any, emu: Any) -> None:
    got = embed(connect("remote_gpu_openai"), ["a", "b"])
    assert got.provider is ProviderName.REMOTE_GPU and got.dimensions == 384
    assert emu.requests("remote_gpu_openai")[0].path.endswith("/v1/embeddings")


def test_dimensions_skip_a_provider_that_cannot_shorten_and_are_checked(
    connect: Any, emu: Any
) -> None:
    client = connect("ollama", "openai")
    got = embed(client, ["a"], dimensions=256)
    assert got.provider is ProviderName.OPENAI and got.dimensions == 256
    assert "dimensions" in outcomes(got)[0][2]
    assert emu.request_count("ollama") == 0


def test_paid_embeddings_are_priced_and_booked(connect: Any, emu: Any) -> None:
    client = connect("openai", budget_usd=1.0)
    got = embed(client, ["a" * 400, "b"])
    assert got.provider is ProviderName.OPENAI and got.model == "text-embedding-3-small"
    assert got.usage is not None and got.usage.prompt_tokens == 102
    assert got.cost_usd == pytest.approx(102 * 0.02 / 1e6)
    assert client.client.router.gate.ledger.spent_usd == pytest.approx(got.cost_usd)


def test_the_budget_refuses_a_paid_provider_before_the_call(connect: Any, emu: Any) -> None:
    client = connect("ollama", "openai", budget_usd=1e-9)
    emu.inject("ollama", Fault.http(503))
    with pytest.raises(AllProvidersFailed) as caught:
        embed(client, ["a" * 4000])
    assert any(p == "openai" and "budget" in r for p, _, r in outcomes(caught.value))
    assert emu.request_count("openai") == 0


def test_paid_embeddings_need_paid_use_enabled(connect: Any, emu: Any) -> None:
    client = connect("openai", enable_paid_api=False)
    with pytest.raises(AllProvidersFailed):
        embed(client, "a")
    assert emu.request_count("openai") == 0


def test_the_deadline_bounds_a_hung_provider(connect: Any, emu: Any) -> None:
    client = connect("ollama", "huggingface", attempt_timeout=0.5, total_timeout=10.0)
    emu.inject("ollama", Fault.hang())
    got = embed(client, "alpha")
    assert got.provider is ProviderName.HUGGINGFACE
    assert outcomes(got)[0][:2] == ("ollama_local", "failed")


def test_bad_arguments_never_reach_the_network(connect: Any, emu: Any) -> None:
    client = connect("ollama")
    for texts, options in (([], {}), (["a", ""], {}), (["a"], {"dimensions": -1})):
        with pytest.raises(InvalidRequestError):
            embed(client, texts, **options)
    assert emu.request_count() == 0


def test_a_pinned_model_goes_to_the_pinned_provider(connect: Any, emu: Any) -> None:
    got = embed(connect("ollama", "huggingface"), "a", model="mxbai-embed-large",
                provider="huggingface")
    assert got.provider is ProviderName.HUGGINGFACE
    assert emu.requests("huggingface")[0].json["model"] == "mxbai-embed-large"
    assert got.vectors == [vector_for("mxbai-embed-large", "a")]
