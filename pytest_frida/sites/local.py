"""The `local` site: KRaft brokers as JVM processes on free loopback ports of this machine.

Storage lives in a temporary directory that is removed at the end; broker logs go to the
run's report directory so they stay with the report.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.kafka import commands, distribution, exporter
from pytest_frida.kafka.errors import KafkaSetupError, key_line
from pytest_frida.kafka.java import java_runtime
from pytest_frida.kafka.readiness import cluster_problem, wait_until_ready
from pytest_frida.kafka.server_config import (
    NodeAddress,
    log4j_config,
    new_cluster_id,
    server_properties,
    write_properties,
)
from pytest_frida.runtimes.agents import LocalAgentLauncher
from pytest_frida.runtimes.broker_logs import broker_log
from pytest_frida.runtimes.cores import HarnessPin, core_groups, cores_details, split_cores
from pytest_frida.runtimes.monitor import LocalBrokerMonitor
from pytest_frida.runtimes.ports import LOOPBACK, free_ports
from pytest_frida.runtimes.process import ManagedProcess, process_alive, stop_together
from pytest_frida.sites.base import BrokerFaults, BrokerInfo, Cluster, Site

READY_TIMEOUT_S = 120.0
FORMAT_TIMEOUT_S = 120.0
#: seconds the brokers get to shut down together before they are killed
STOP_GRACE_S = 5.0
DATA_DIR_PREFIX = "frida-kafka-"
_OWNER_FILE = "owner.pid"


def sweep_stale_data_dirs(tmp: Path | None = None) -> list[Path]:
    """Remove broker data directories whose pytest is gone (killed outright, so it could
    not clean up). Directories of live sessions, or without an owner file, are kept."""
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(DATA_DIR_PREFIX + "*"):
        try:
            owner = int((path / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not process_alive(owner):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class LocalSite(Site):
    name = "local"

    def __init__(self, settings: ClusterSettings, run_dir: Path) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.servers: list[ManagedProcess] = []
        self._commands: dict[int, tuple[list[str], Path]] = {}
        self._data_dir: Path | None = None
        self.faults = _LocalFaults(self)
        #: each broker's JMX exporter, or why there is none
        self._metrics_urls: dict[int, str] = {}
        self._metrics_off: str | None = "--frida-monitor=off"
        self._pin = (
            HarnessPin(split_cores(settings.broker_cores)) if settings.broker_cores else None
        )

    def start(self) -> Cluster:
        started = time.monotonic()
        dist = distribution.resolve(self.settings.kafka_version, self.settings.kafka_home)
        java = java_runtime(dist.version)
        sweep_stale_data_dirs()
        self._data_dir = data_dir = Path(tempfile.mkdtemp(prefix=DATA_DIR_PREFIX))
        (self._data_dir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        count = self.settings.brokers
        ports = free_ports(3 * count)
        agent_flags = self._exporter(ports[2 * count :])
        nodes = [NodeAddress(i, LOOPBACK, ports[2 * i], ports[2 * i + 1]) for i in range(count)]
        cluster_id = new_cluster_id()
        log_root = self.run_dir / "logs"
        formats: list[tuple[NodeAddress, Path, Path, ManagedProcess]] = []
        try:
            for node in nodes:
                conf_dir = self._data_dir / f"node-{node.node_id}"
                props = conf_dir / "server.properties"
                write_properties(
                    props,
                    server_properties(node, nodes, conf_dir / "data", self.settings.broker_config),
                )
                log4j = conf_dir / ("log4j2.properties" if dist.uses_log4j2 else "log4j.properties")
                log4j.write_text(
                    log4j_config(broker_log(self.run_dir, node.node_id), dist.uses_log4j2)
                )
                formats.append(
                    (
                        node,
                        props,
                        log4j,
                        ManagedProcess(
                            f"format-{node.node_id}",
                            commands.format_storage(
                                java.executable, dist, props, cluster_id, log4j
                            ),
                            log_path=conf_dir / "format.log",
                        ),
                    )
                )
            for node, _, _, proc in formats:
                try:
                    proc.popen.wait(FORMAT_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    raise KafkaSetupError(
                        f"formatting storage of broker {node.node_id} did not finish within"
                        f" {FORMAT_TIMEOUT_S:.0f}s:\n{proc.log_tail()}"
                    ) from None
                if proc.returncode != 0:
                    raise KafkaSetupError(
                        f"formatting storage of broker {node.node_id} failed"
                        f" (exit code {proc.returncode}):\n{proc.log_tail()}"
                    )
        finally:
            # interrupted or failed: a format still running would recreate the data
            # directory that stop() removes
            stop_together([proc for *_, proc in formats], 0.0)
        # --frida-broker-cores: the brokers on their cores, this process on the others
        pinned = ["taskset", "-c", self._pin.split.broker_list] if self._pin else []
        for node, props, log4j, _ in formats:
            self._commands[node.node_id] = (
                [
                    *pinned,
                    *commands.kafka_server(
                        java.executable,
                        dist,
                        props,
                        log4j,
                        extra_flags=agent_flags.get(node.node_id, ()),
                    ),
                ],
                log_root / f"broker-{node.node_id}" / "stdout.log",
            )
            self.servers.append(self.launch_broker(node.node_id))
        bootstrap = ",".join(f"{n.host}:{n.broker_port}" for n in nodes)
        wait_until_ready(bootstrap, count, READY_TIMEOUT_S, self._first_dead)
        if self._pin is not None:
            try:
                self._pin.apply()
            except OSError as exc:
                raise KafkaSetupError(
                    f"--frida-broker-cores={self.settings.broker_cores}: {exc}"
                ) from None
        return Cluster(
            site=self.name,
            bootstrap=bootstrap,
            brokers=[BrokerInfo(n.node_id, n.host, n.broker_port) for n in nodes],
            kafka_version=dist.version,
            launcher=LocalAgentLauncher(log_root / "agents"),
            hosts=[socket.gethostname()],
            ready_seconds=time.monotonic() - started,
            details={
                "kafka_source": dist.source,
                "java": java.version,
                "kafka_libs": str(dist.libs),
                **cores_details(self._pin),
            },
            health=lambda: cluster_problem(
                bootstrap, count - len(self.faults.down), self._first_dead
            ),
            faults=self.faults,
            monitor=LocalBrokerMonitor(
                self._pids,
                self._metrics_urls,
                data_dir,
                self._metrics_off,
                core_groups=core_groups(self._pin),
            )
            if self.settings.monitor
            else None,
            monitor_note="--frida-monitor=off",
            broker_cores=self.settings.broker_cores or None,
        )

    def _exporter(self, ports: list[int]) -> dict[int, tuple[str, ...]]:
        """The JMX exporter's JVM flag per broker, on its own loopback port; none (and the
        reason kept for the report) when the monitor is off or the agent cannot be had."""
        self._metrics_urls = {}
        self._metrics_off = "--frida-monitor=off"
        if not self.settings.monitor or self._data_dir is None:
            return {}
        jar, self._metrics_off = exporter.agent_or_reason()
        if jar is None:
            self.notify(f"pytest-frida: broker metrics off: {self._metrics_off}")
            return {}
        config = self._data_dir / "jmx-exporter.yml"
        config.write_text(exporter.config_text())
        flags: dict[int, tuple[str, ...]] = {}
        for node_id, port in enumerate(ports):
            flags[node_id] = (exporter.agent_flag(jar, LOOPBACK, port, config),)
            self._metrics_urls[node_id] = exporter.metrics_url(LOOPBACK, port)
        return flags

    def _pids(self) -> dict[int, int | None]:
        return {
            node_id: server.pid if server.is_running() and node_id not in self.faults.down else None
            for node_id, server in enumerate(self.servers)
        }

    def launch_broker(self, node_id: int) -> ManagedProcess:
        """Start broker `node_id`'s process, at the start or again after a fault."""
        argv, log_path = self._commands[node_id]
        return ManagedProcess(f"broker-{node_id}", argv, log_path=log_path)

    def _first_dead(self) -> str | None:
        for node_id, server in enumerate(self.servers):
            if not server.is_running() and node_id not in self.faults.down:
                tail = server.log_tail()
                log = broker_log(self.run_dir, node_id)
                why = key_line(tail)
                if log.exists():  # where Log4j puts the reason; stdout has the rest
                    text = log.read_bytes()[-262144:].decode("utf-8", "replace")
                    why = key_line(text)
                    tail = "\n".join([*text.splitlines()[-10:], tail]).strip()
                return f"{server.name} (exit code {server.returncode}): {why}\n{tail}"
        return None

    def stop(self) -> None:
        if self._pin is not None:
            self._pin.release()
        stop_together(self.servers, STOP_GRACE_S)
        self.servers.clear()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None


class _LocalFaults(BrokerFaults):
    """Faults on local broker processes: signals to their process groups, and a restart
    with the same command line (storage stays, so the node rejoins as itself)."""

    def __init__(self, site: LocalSite) -> None:
        super().__init__()
        self.site = site

    def _server(self, broker: int) -> ManagedProcess:
        if not 0 <= broker < len(self.site.servers):
            raise ValueError(f"no broker {broker}; brokers are 0..{len(self.site.servers) - 1}")
        return self.site.servers[broker]

    def kill(self, broker: int) -> None:
        self.down.add(broker)
        server = self._server(broker)
        server.send_signal(signal.SIGKILL)
        server.popen.wait(10)

    def stop(self, broker: int) -> None:
        self.down.add(broker)
        self._server(broker).stop(timeout=30)

    def restart(self, broker: int) -> None:
        server = self._server(broker)
        if server.is_running():
            server.stop(timeout=30)
        self.site.servers[broker] = self.site.launch_broker(broker)
        self.down.discard(broker)

    def pause(self, broker: int) -> None:
        self.down.add(broker)
        self._server(broker).send_signal(signal.SIGSTOP)

    def resume(self, broker: int) -> None:
        self._server(broker).send_signal(signal.SIGCONT)
        self.down.discard(broker)
