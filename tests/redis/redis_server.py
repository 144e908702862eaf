"""A real ``redis-server`` on 127.0.0.1 for tests and benchmarks (stdlib only).

``RedisServer().start()`` runs one on a free port with no persistence (``--save ''
--appendonly no``) in a temporary directory, and waits until it answers PING;
``stop()`` kills it (``kill()`` without waiting for a clean shutdown) and ``start()`` again
brings it back, empty, on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class RedisServerError(RuntimeError):
    pass


def binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="sarvanom-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        found = binary()
        if found is None:
            raise RedisServerError("redis-server is not installed")
        args = [
            found,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._folder),
            "--protected-mode",
            "yes",
            "--enable-debug-command",
            "local",  # DEBUG SLEEP: a slow Redis (tests/redis/test_hot_path.py)
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode()[-500:]
                raise RedisServerError(f"redis-server exited: {err}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RedisServerError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): connections drop mid-flight."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self._folder, ignore_errors=True)
