"""Real Redis topologies on 127.0.0.1 from Debian's packages (stdlib only): a primary with
a replica watched by three sentinels, and a three-primary cluster. Failover timeouts are
set low so the tests stay short. Every process is killed and its directory removed by
``stop()``."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from redis_server import RedisServer, RedisServerError, free_port

SERVICE = "sarvanom-primary"


def _command(port: int, *words: str) -> Any:
    """One command to a server or sentinel on 127.0.0.1 (redis-py's parsed reply)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        return client.execute_command(*words)
    finally:
        client.close()


class _Node(RedisServer):
    """A redis-server with extra arguments (replica of, cluster mode)."""

    def __init__(self, extra: list[str], port: int | None = None) -> None:
        super().__init__(port)
        self.extra = extra

    def start(self, timeout: float = 10.0) -> _Node:
        found = shutil.which("redis-server")
        if found is None:
            raise RedisServerError("redis-server is not installed")
        args = [
            found, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._folder), *self.extra,
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisServerError("redis-server exited")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RedisServerError(f"redis-server did not answer on port {self.port}")


class SentinelSetup:
    """One primary, one replica, three sentinels (quorum 2, down after 400 ms)."""

    def __init__(self) -> None:
        self.primary = _Node([])
        self.replica = _Node(["--replicaof", "127.0.0.1", str(self.primary.port)])
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._folder = Path(tempfile.mkdtemp(prefix="sarvanom-sentinel-"))
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self) -> SentinelSetup:
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise RedisServerError(
                "redis-sentinel is not installed (apt-get install redis-sentinel)"
            )
        self.primary.start()
        self.replica.start()
        for port in self.sentinel_ports:
            conf = self._folder / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self._folder}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 400\n"
                f"sentinel failover-timeout {SERVICE} 2000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self._sentinels.append(
                subprocess.Popen(
                    [binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # every sentinel knows the replica and the others
            try:
                ready = all(self._sees_everyone(p) for p in self.sentinel_ports)
            except Exception:  # noqa: BLE001 - not up yet
                ready = False
            if ready:
                return self
            time.sleep(0.2)
        self.stop()
        raise RedisServerError("the sentinels did not see the replica and each other in time")

    @staticmethod
    def _sees_everyone(port: int) -> bool:
        fields = _command(port, "SENTINEL", "MASTER", SERVICE)  # parsed into a dict
        return int(fields[b"num-other-sentinels"]) == 2 and int(fields[b"num-slaves"]) == 1

    def primary_port(self) -> int:
        reply = _command(self.sentinel_ports[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(reply[1])

    def stop(self) -> None:
        for proc in self._sentinels:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.primary.stop()
        self.replica.stop()
        shutil.rmtree(self._folder, ignore_errors=True)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RedisServerError("no free port pair for a cluster node")


class ClusterSetup:
    """Three primaries, no replicas, slots spread by ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        self.nodes = [
            _Node(
                ["--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
                 "--cluster-config-file", "nodes.conf"],
                port=_cluster_port(),
            )
            for _ in range(3)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> ClusterSetup:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisServerError("redis-cli is not installed")
        for node in self.nodes:
            node.start()
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(b"cluster_state:ok" in _command(n.port, "CLUSTER", "INFO") for n in self.nodes):  # noqa: E501
                return self
            time.sleep(0.2)
        self.stop()
        raise RedisServerError("the cluster did not reach cluster_state:ok in time")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
