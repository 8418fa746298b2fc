"""A Redis Sentinel deployment of our own: a master, one replica and three sentinels,
each a `redis-server` process on a free port (`redis-server sentinel.conf --sentinel` is
redis-sentinel), configured the way docs/operating.md recommends. Everything started
is stopped by `stop()`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from tests.conftest import free_port, wait_until

SERVICE = "mymaster"


class SentinelDeployment:
    def __init__(self, directory: Path, password: str) -> None:
        self.directory = directory
        self.password = password
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://:{self.password}@{hosts}/{SERVICE}/0"

    def _spawn(self, args: list[str], name: str) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        try:
            self.processes.append(
                subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
            )
        finally:
            log.close()  # the child has its own copy

    def _data_server(self, port: int, replica_of: int | None) -> None:
        folder = self.directory / f"redis-{port}"
        folder.mkdir()
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--dir", str(folder), "--save", "", "--appendonly", "yes"]
        args += ["--appendfsync", "everysec"]
        args += ["--requirepass", self.password, "--masterauth", self.password]
        # A master cut off from its replica refuses writes instead of taking writes that
        # the failover then throws away (docs/operating.md).
        args += ["--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(args, f"redis-{port}")

    def _sentinel(self, port: int) -> None:
        folder = self.directory / f"sentinel-{port}"
        folder.mkdir()
        conf = folder / "sentinel.conf"  # sentinels rewrite their config: one each
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.data_ports[0]} 2\n"
            f"sentinel auth-pass {SERVICE} {self.password}\n"
            f"sentinel down-after-milliseconds {SERVICE} 2000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        self._spawn(["redis-server", str(conf), "--sentinel"], f"sentinel-{port}")

    def data_client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password)

    def sentinel_client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True)

    def start(self) -> None:
        master, replica = self.data_ports
        self._data_server(master, None)
        self._data_server(replica, master)
        for port in self.sentinel_ports:
            self._sentinel(port)
        wait_until(lambda: self._role(replica) == "slave" and self._linked(master), 30, "replica")
        # SENTINEL FAILOVER needs every sentinel to know the replica and its peers.
        for port in self.sentinel_ports:
            wait_until(lambda port=port: self._sentinel_ready(port), 60, f"sentinel {port}")

    def _role(self, port: int) -> str | None:
        client = self.data_client(port)
        try:
            return str(client.role()[0].decode())
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _linked(self, master: int) -> bool:
        """The master takes writes: with min-replicas-to-write 1 that needs a replica done
        with its first sync and acknowledging within the lag (`min_slaves_good_slaves`);
        a replica merely connected still gets writes refused with NOREPLICAS."""
        client = self.data_client(master)
        try:
            info = client.info("replication")
            return int(info.get("min_slaves_good_slaves", info["connected_slaves"])) >= 1
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _sentinel_ready(self, port: int) -> bool:
        client = self.sentinel_client(port)
        try:
            state = client.sentinel_master(SERVICE)
            return int(state["num-slaves"]) >= 1 and int(state["num-other-sentinels"]) >= 2
        except redis.RedisError:
            return False
        finally:
            client.close()

    def master_port(self) -> int | None:
        """The master's port as the first sentinel names it."""
        client = self.sentinel_client(self.sentinel_ports[0])
        try:
            address = client.sentinel_get_master_addr_by_name(SERVICE)
            return int(address[1]) if address else None
        except redis.RedisError:
            return None
        finally:
            client.close()

    def fail_over(self) -> int:
        """SENTINEL FAILOVER; returns the new master's port once every sentinel names it
        and the old master replicates from it."""
        old = self.master_port()
        client = self.sentinel_client(self.sentinel_ports[0])
        try:
            client.execute_command("SENTINEL", "FAILOVER", SERVICE)
        finally:
            client.close()
        new = next(p for p in self.data_ports if p != old)
        wait_until(lambda: self._role(new) == "master", 30, "replica promoted")
        wait_until(lambda: self._role(old) == "slave" and self._linked(new), 60, "old master back")
        return new

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
