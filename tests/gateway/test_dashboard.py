"""Issue 17 item 2: the dashboard's routes and ``/dashboard/state.json`` (the browser test is
test_dashboard_browser.py; the recorder alone is test_dashboard_activity.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from gateway_helpers import TOKEN, failing_gpu_then_ollama, ollama_client, stub_client

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.gateway.dashboard import PUBLIC_PATHS, RECORDER, STATE_PATH
from sarvanom_sdk.testing import Fault, ProviderEmulator

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CANARY_PROMPT = "canary-prompt-5d1e8b2a-never-on-the-dashboard"
CANARY_SYSTEM = "canary-system-5d1e8b2a-never-on-the-dashboard"
CANARY_KEY = "hf_canarykey5d1e8b2a0123456789"


async def state(client: Any) -> dict[str, Any]:
    reply = await client.get(STATE_PATH, headers=AUTH)
    assert reply.status == 200, await reply.text()
    assert reply.headers["Cache-Control"] == "no-store"
    return await reply.json()  # type: ignore[no-any-return]


def provider(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["providers"] if p["name"] == name)


async def test_state_json_needs_the_token_issue17_item2(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    missing = await client.get(STATE_PATH)
    assert missing.status == 401
    assert (await missing.json())["error"]["code"] == "missing_token"
    wrong = await client.get(STATE_PATH, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await client.get(STATE_PATH, headers=AUTH)).status == 200


async def test_the_shell_is_public_strict_and_self_contained_issue17_item2(
    open_gateway, emulator
) -> None:
    """The page and its script and style load without the token (a browser cannot send one
    when it navigates), carry no data, load nothing from elsewhere, and run under a CSP
    that only allows the gateway itself."""
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    bodies = {}
    for path in sorted(PUBLIC_PATHS):
        reply = await client.get(path)
        assert reply.status == 200, path
        csp = reply.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["Cache-Control"] == "no-store"
        bodies[path] = await reply.text()
    html = bodies["/dashboard"]
    assert reply.status == 200
    assert '<script src="dashboard/dashboard.js"' in html
    assert "<script>" not in html and "style=" not in html  # nothing inline (the CSP)
    for path, text in bodies.items():
        # the SVG namespace is a name, not a fetch; no other absolute URL anywhere
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+", text)) - {"http://www.w3.org"}
        assert not urls, (path, urls)
        assert "@import" not in text and "url(" not in text
    script = bodies["/dashboard/dashboard.js"]
    assert "sessionStorage" in script and "localStorage" not in script
    assert "innerHTML" not in script  # server data only ever lands as text
    # neighbours of the public paths still need the token
    assert (await client.get("/dashboard/other.json")).status == 401


async def test_state_shows_providers_endpoints_and_an_open_breaker_issue17_item2(
    open_gateway, emulator
) -> None:
    client = await open_gateway(failing_gpu_then_ollama(emulator), token=TOKEN)
    before = await state(client)
    assert [p["name"] for p in before["providers"]] == ["remote_gpu", "ollama_local"]
    assert all(p["circuit_state"] == "closed" for p in before["providers"])
    assert before["totals"]["requests"] == 0 and before["recent"] == []

    for n in range(3):
        reply = await client.post("/api/query", json={"prompt": f"q{n}"}, headers=AUTH)
        assert reply.status == 200
    doc = await state(client)
    gpu, ollama = provider(doc, "remote_gpu"), provider(doc, "ollama_local")
    assert gpu["circuit_state"] == "open"
    assert 0 < gpu["reopens_in_s"] <= 300 and gpu["circuit_open_until"].endswith("Z")
    assert gpu["endpoints"][0]["circuit_state"] == "open"
    assert emulator.refused_url("remote_gpu").startswith(gpu["endpoints"][0]["url"] + "/")
    assert gpu["endpoints"][0]["window"] == gpu["window"]  # its only endpoint
    assert gpu["window"]["failed"] == 1 and gpu["window"]["skipped"] == 2
    assert gpu["window"]["success_rate"] == 0.0
    assert gpu["last_failure_reason"]
    assert ollama["circuit_state"] == "closed"
    assert ollama["window"]["ok"] == 3 and ollama["window"]["success_rate"] == 1.0
    assert ollama["window"]["p50_ms"] is not None and ollama["window"]["p95_ms"] is not None
    assert len(ollama["series"]) == doc["window"]["buckets"]
    assert doc["status"] == "healthy"  # Ollama still answers
    assert doc["totals"]["requests"] == 3
    assert [r["provider"] for r in doc["recent"]] == ["ollama_local"] * 3
    first = doc["recent"][-1]  # newest first: the oldest is last
    assert [(a["provider"], a["outcome"]) for a in first["trail"]] == [
        ("remote_gpu", "failed"),
        ("ollama_local", "ok"),
    ]


async def test_stub_and_stale_fallbacks_and_cache_hits_are_counted_issue17_item2(
    open_gateway,
) -> None:
    clock = FakeClock()
    async with ProviderEmulator() as emu:
        sdk = AsyncSarvanClient(
            Settings(ollama_base_url=emu.url_for("ollama"), max_retries=0, cache_ttl_seconds=60),
            clock=clock,
        )
        client = await open_gateway(sdk, token=TOKEN)
        ask = {"json": {"prompt": "same question", "temperature": 0}, "headers": AUTH}
        assert (await (await client.post("/api/query", **ask)).json())["cached"] is False
        assert (await (await client.post("/api/query", **ask)).json())["cached"] is True
        clock.advance(61)  # the cached answer expired; Ollama now fails: the stale one
        emu.inject("ollama", Fault.http(503))
        assert (await (await client.post("/api/query", **ask)).json())["stale"] is True
        other = {"json": {"prompt": "never asked"}, "headers": AUTH}
        assert (await (await client.post("/api/query", **other)).json())["success"] is False
        doc = await state(client)
    totals = doc["totals"]
    assert (totals["requests"], totals["cache_hits"], totals["stale"], totals["stub"]) == (
        4,
        1,
        1,
        1,
    )
    assert [r["outcome"] for r in doc["recent"]] == ["stub", "stale", "cached", "ok"]
    assert sum(b["stub"] for b in doc["series"]) == 1


async def test_budget_left_is_shown_when_a_budget_is_set_issue17_item2(open_gateway) -> None:
    client = await open_gateway(stub_client(budget_usd=2.5), token=TOKEN)
    assert (await state(client))["budget"] == {
        "budget_usd": 2.5,
        "spent_usd": 0.0,
        "remaining_usd": 2.5,
        "error": None,
    }
    plain = await open_gateway(stub_client(), token=TOKEN)
    budget = (await state(plain))["budget"]
    assert budget["budget_usd"] is None and budget["remaining_usd"] is None


async def test_no_prompt_no_key_no_token_in_state_issue17_item2(open_gateway) -> None:
    """Canary prompt, system text and key: a provider echoes them in its error body; the
    dashboard's JSON (which keeps failure reasons) holds none of them, nor the token."""
    async with ProviderEmulator() as emu:
        sdk = AsyncSarvanClient(
            Settings(
                providers=("remote_gpu", "ollama_local"),
                gpu_remote_url=emu.url_for("remote_gpu"),
                ollama_base_url=emu.url_for("ollama"),
                huggingface_api_key=CANARY_KEY,
                max_retries=0,
            )
        )
        client = await open_gateway(sdk, token=TOKEN)
        asked = [  # (body, what the provider quotes back in its error)
            (
                {"prompt": CANARY_PROMPT, "system": CANARY_SYSTEM},
                f"{CANARY_PROMPT} / {CANARY_SYSTEM}",
            ),
            ({"messages": [{"role": "user", "content": f"{CANARY_PROMPT}!"}]}, CANARY_PROMPT),
            ({"prompt": f"long: {CANARY_PROMPT} {'x' * 300}"}, f"'{CANARY_PROMPT[5:30]}'"),
        ]
        for body, quoted in asked:
            echo = f"bad request {quoted} key {CANARY_KEY} token {TOKEN}"
            emu.inject("remote_gpu", Fault.http(400, body={"error": echo}), times=1)
            assert (await client.post("/api/query", json=body, headers=AUTH)).status == 200
        doc = await state(client)
    text = json.dumps(doc)
    for canary in (CANARY_PROMPT, CANARY_SYSTEM, CANARY_KEY, TOKEN, "canary", "5d1e8b2a"):
        assert canary not in text, canary
    reasons = [a["reason"] for r in doc["recent"] for a in r["trail"] if a["outcome"] == "failed"]
    assert len(reasons) == 3 and all("[prompt]" in r for r in reasons), reasons
    assert all(r.startswith("HTTP 400") for r in reasons)


async def test_cleanup_detaches_the_recorder_issue17_item2(open_gateway) -> None:
    sdk = stub_client()
    client = await open_gateway(sdk)
    recorder = client.server.app[RECORDER]
    assert recorder.observe_attempt in sdk.router.observers
    await client.close()
    assert recorder.observe_attempt not in sdk.router.observers


async def test_state_json_without_a_token_configured_is_open(open_gateway) -> None:
    client = await open_gateway(stub_client())
    reply = await client.get(STATE_PATH)
    assert reply.status == 200
    assert (await reply.json())["version"] == 1


async def test_streamed_answers_are_recorded_too_issue17_item2(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator), token=TOKEN)
    body = {
        "model": "sarvanom/auto",
        "stream": True,
        "messages": [{"role": "user", "content": "stream me"}],
    }
    reply = await client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert reply.status == 200
    assert "[DONE]" in await reply.text()
    doc = await state(client)
    assert doc["totals"]["requests"] == 1
    (entry,) = doc["recent"]
    assert (entry["provider"], entry["outcome"]) == ("ollama_local", "ok")
    assert [a["provider"] for a in entry["trail"]] == ["ollama_local"]
