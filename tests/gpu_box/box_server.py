"""Run aiohttp apps on 127.0.0.1 (an ephemeral port) on their own thread, for tests: the
gpu-box itself (:class:`BoxServer`) and a stand-in embeddings backend."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from sarvanom_sdk.gpu_box import GpuBox, GpuSlots, OpenAIBackend, create_app


class ThreadedApp:
    """``with ThreadedApp(app) as server: server.url``."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> Any:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class BoxServer(ThreadedApp):
    """``BoxServer(backend_url, token=..., gpus=..., queue=...)``: a gpu-box over an
    OpenAI-compatible backend; ``.box`` is its :class:`GpuBox`."""

    def __init__(self, backend_url: str, *, token: str | None = None, gpus: int = 1,
                 queue: int = 4, embeddings_url: str | None = None, model: str | None = None,
                 **box: Any) -> None:
        self.box = GpuBox(
            OpenAIBackend(backend_url, model=model, embeddings_url=embeddings_url, timeout=120),
            token=token, slots=GpuSlots(gpus, queue), **box,
        )
        super().__init__(create_app(self.box))


def embeddings_backend() -> web.Application:
    """An OpenAI-shaped ``/v1/embeddings`` whose vector for a text is
    ``[len(text), count of 'a', 1.0]``; it records the bodies it got in ``app[SEEN]``."""
    seen: list[Any] = []

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        data = [{"object": "embedding", "index": i,
                 "embedding": [float(len(t)), float(t.count("a")), 1.0]}
                for i, t in enumerate(body["input"])]
        return web.json_response({"object": "list", "model": body.get("model"), "data": data,
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    app = web.Application()
    app[SEEN] = seen
    app.router.add_post("/v1/embeddings", embeddings)
    return app


SEEN = web.AppKey("seen", list)
