"""Run a gpu-box app on 127.0.0.1 (an ephemeral port) on its own thread, for tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from sarvanom_sdk.gpu_box import GpuBox, GpuSlots, OpenAIBackend, create_app


class BoxServer:
    """``BoxServer(backend_url, token=..., gpus=..., queue=...)``; ``.url`` once started;
    a context manager."""

    def __init__(self, backend_url: str, *, token: str | None = None, gpus: int = 1,
                 queue: int = 4, embeddings_url: str | None = None, model: str | None = None,
                 **box: Any) -> None:
        self.box = GpuBox(
            OpenAIBackend(backend_url, model=model, embeddings_url=embeddings_url, timeout=120),
            token=token, slots=GpuSlots(gpus, queue), **box,
        )
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> BoxServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(create_app(self.box), shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
