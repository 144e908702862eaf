#!/usr/bin/env python3
"""Whether orjson would pay (issue 18 goal 4): the JSON work of one request with the
standard library vs orjson, and its share of the CPU a request costs end to end.

Micro (µs per operation, the minimum of interleaved batches, the real shapes): encoding
the SDK's request bodies (``HttpCall.body_bytes()`` of the ``remote_gpu``/OpenAI and the
Ollama adapters), decoding the providers' replies (``_server.py``'s OpenAI and Ollama
answers, one NDJSON stream line), and the gateway's side (parsing the caller's chat
request, writing the ``chat.completion`` answer as ``web.json_response`` does, one SSE
chunk as ``openai_compat`` does). The ``json`` column runs today's calls (the SDK's
separators and ``ensure_ascii``), the ``orjson`` column ``orjson.dumps``/``loads`` on the
same values.

End to end: the JSON operations one request performs (client: encode + decode; gateway:
parse the request + the SDK's encode and decode + write the answer), with each library,
over the CPU time one request costs in the same run (the client: ``AsyncSarvanClient``,
64 in flight against ``_server.py``, ``time.process_time``; the gateway: ``sarvanom
serve``'s CPU per request from ``/proc``, 64 connections): the share orjson could save.
The project's rule: an optional speedup is kept only if it saves 10 % or more.

Run: ``python benchmarks/bench_json.py [--quick]`` (needs ``pip install orjson``; without
it, the ``json`` column alone).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from _common import interleaved_us, loopback_server, run_script, script_parser, settings
from _gateways import CHAT_BODY, sarvanom_gateway
from _server import OLLAMA_BODY, OPENAI_BODY, stream_parts

#: One streamed chunk as the gateway writes it (``openai_compat``'s SSE payload shape).
SSE_CHUNK = {"id": "chatcmpl-0123456789abcdef0123456789abcdef",
             "object": "chat.completion.chunk", "created": 1767225600,
             "model": "sarvanom/remote_gpu",
             "choices": [{"index": 0, "delta": {"content": "w1 "}, "finish_reason": None,
                          "logprobs": None}]}


def shapes(gateway_reply: bytes) -> dict[str, tuple[str, Any]]:
    """name -> ("encode", value) or ("decode", bytes): the real values of one request."""
    from sarvanom_sdk import LLMRequest, ProviderName
    from sarvanom_sdk.providers import adapter_for

    config = settings(gpu_remote_url="http://127.0.0.1:9", gpu_remote_protocol="openai",
                      ollama_base_url="http://127.0.0.1:9")
    request = LLMRequest(prompt="What is the capital of France?", max_tokens=64)
    line = stream_parts(8)[1].split(b"\r\n")[1]
    return {
        "SDK encode, OpenAI body": ("encode", adapter_for(
            ProviderName.REMOTE_GPU, config).build(request).json),
        "SDK encode, Ollama body": ("encode", adapter_for(
            ProviderName.OLLAMA_LOCAL, config).build(request).json),
        "SDK decode, OpenAI reply": ("decode", OPENAI_BODY),
        "SDK decode, Ollama reply": ("decode", OLLAMA_BODY),
        "SDK decode, NDJSON line": ("decode", line),
        "gateway decode, chat request": ("decode", CHAT_BODY),
        "gateway encode, chat answer": ("answer", json.loads(gateway_reply)),
        "gateway encode, SSE chunk": ("sse", SSE_CHUNK),
    }


def stdlib(kind: str, value: Any) -> Callable[[], Any]:
    """Today's call for ``kind`` (the SDK's ``body_bytes``, ``json.loads``, aiohttp's
    ``json_response``, ``openai_compat``'s SSE line)."""
    if kind == "encode":
        return lambda: json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if kind == "decode":
        return lambda: json.loads(value)
    if kind == "answer":
        return lambda: json.dumps(value).encode("utf-8")
    return lambda: b"data: " + json.dumps(value).encode() + b"\n\n"


def fast(kind: str, value: Any) -> Callable[[], Any]:
    import orjson

    if kind == "decode":
        return lambda: orjson.loads(value)
    if kind == "sse":
        return lambda: b"data: " + orjson.dumps(value) + b"\n\n"
    return lambda: orjson.dumps(value)


def micro(values: dict[str, tuple[str, Any]], number: int, with_orjson: bool
          ) -> dict[str, tuple[float, float | None]]:
    out = {}
    for name, (kind, value) in values.items():
        makers = {"json": stdlib(kind, value)}
        if with_orjson:
            makers["orjson"] = fast(kind, value)
        batches = {side: _batch(fn, number) for side, fn in makers.items()}
        best = interleaved_us(batches)
        out[name] = (best["json"], best.get("orjson"))
    return out


def _batch(fn: Callable[[], Any], number: int) -> Callable[[], float]:
    from _common import per_call_us

    return lambda: per_call_us(fn, number)


async def client_cpu_us(root: str, count: int) -> float:
    """``AsyncSarvanClient`` CPU µs per request, 64 in flight (after a warm-up)."""
    from sarvanom_cli.bench import calls
    from sarvanom_cli.bench.drive import drive_async

    from sarvanom_sdk import AsyncSarvanClient

    client = AsyncSarvanClient(settings(gpu_remote_url=root, gpu_remote_protocol="openai",
                                        providers="remote_gpu", cache_ttl_seconds=0,
                                        max_concurrency="remote_gpu=64"))
    one = calls.sdk_async(client, "remote_gpu", {"prompt": "What is the capital of France?",
                                                 "max_tokens": 64}, False)
    try:
        await drive_async(one, 256, 64, lambda o: None)
        cpu = time.process_time()
        await drive_async(one, count, 64, lambda o: None)
        return (time.process_time() - cpu) / count * 1e6
    finally:
        await client.close()


async def gateway_cpu_us(gateway: Any, count: int) -> float:
    import aiohttp
    from sarvanom_cli.bench.drive import drive_async

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        async def one() -> None:
            async with session.post(gateway.url + "/v1/chat/completions", data=CHAT_BODY,
                                    headers={"Content-Type": "application/json"}) as reply:
                await reply.read()

        await drive_async(one, 256, 64, lambda o: None)
        cpu = gateway.cpu_seconds()
        await drive_async(one, count, 64, lambda o: None)
        return float(gateway.cpu_seconds() - cpu) / count * 1e6


def main() -> None:
    args = script_parser(__doc__, quick=True).parse_args()
    number, count = (2_000, 1_000) if args.quick else (20_000, 5_000)
    try:
        import orjson  # noqa: F401

        with_orjson = True
    except ImportError:
        with_orjson = False

    def run() -> None:
        import urllib.request

        with loopback_server() as root, sarvanom_gateway(root, in_flight=64) as gateway:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            post = urllib.request.Request(gateway.url + "/v1/chat/completions",
                                          data=CHAT_BODY,
                                          headers={"Content-Type": "application/json"})
            with opener.open(post, timeout=10) as reply:
                gateway_reply = reply.read()
            figures = micro(shapes(gateway_reply), number, with_orjson)
            client = asyncio.run(client_cpu_us(root, count))
            served = asyncio.run(gateway_cpu_us(gateway, count))
        print(f"{'operation':<32}{'json µs':>9}{'orjson µs':>11}{'saved':>8}")
        for name, (slow, quick) in figures.items():
            if quick is None:
                print(f"{name:<32}{slow:>9.2f}{'-':>11}{'-':>8}")
            else:
                print(f"{name:<32}{slow:>9.2f}{quick:>11.2f}{1 - quick / slow:>8.0%}")
        paths = {
            "client (AsyncSarvanClient)": (client, ["SDK encode, OpenAI body",
                                                    "SDK decode, OpenAI reply"]),
            "gateway (sarvanom serve)": (served, ["gateway decode, chat request",
                                                  "SDK encode, OpenAI body",
                                                  "SDK decode, OpenAI reply",
                                                  "gateway encode, chat answer"]),
        }
        print()
        for name, (cpu, ops) in paths.items():
            slow = sum(figures[op][0] for op in ops)
            line = (f"{name}: CPU {cpu:.0f} µs per request (64 in flight); its JSON "
                    f"{slow:.1f} µs ({slow / cpu:.1%})")
            if with_orjson:
                quick = sum(figures[op][1] or 0.0 for op in ops)
                saved = (slow - quick) / cpu
                line += (f", with orjson {quick:.1f} µs: saves {saved:.1%} of the request "
                         f"({'meets' if saved >= 0.10 else 'below'} the 10 % rule)")
            print(line)
        if not with_orjson:
            print("orjson is not installed: pip install orjson to compare")

    run_script(run)


if __name__ == "__main__":
    main()
