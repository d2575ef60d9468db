"""The `docker` site: Kafka nodes in containers (testcontainers), agents as local processes.

Each run gets its own network and containers, labelled with the run and its owner process;
everything is removed at the end, and leftovers of a killed run are removed at the next
start. Broker logs are copied into the run's report directory before the containers go.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_frida.config import ClusterSettings
from pytest_frida.images.checks import choose_kafka_image
from pytest_frida.kafka import exporter
from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.kafka.readiness import cluster_problem, wait_until_ready
from pytest_frida.kafka.server_config import new_cluster_id
from pytest_frida.runtimes.agents import LocalAgentLauncher
from pytest_frida.runtimes.broker_logs import save_broker_logs
from pytest_frida.runtimes.cores import HarnessPin, core_groups, cores_details, split_cores
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.docker_owner import owner_labels, remove_run_objects, sweep_orphans
from pytest_frida.runtimes.kafka_container import (
    EXPORTER_DIR,
    EXPORTER_PORT,
    ApacheKafkaContainer,
    Network,
)
from pytest_frida.runtimes.monitor import ContainerPids, LocalBrokerMonitor, read_container
from pytest_frida.runtimes.ports import free_ports
from pytest_frida.runtimes.process import interrupts_deferred
from pytest_frida.sites.base import BrokerFaults, BrokerInfo, Cluster, Site

START_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0


class DockerSite(Site):
    name = "docker"

    def __init__(self, settings: ClusterSettings, run_dir: Path, run_id: str) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.run_id = run_id
        self.containers: list[ApacheKafkaContainer] = []
        self._network: Network | None = None
        self._docker: DockerCli | None = None
        self.faults = _DockerFaults(self)
        self._metrics_urls: dict[int, str] = {}
        self._metrics_off: str | None = "--frida-monitor=off"
        self._exporter_dir: Path | None = None
        self._container_pids = ContainerPids(
            lambda i: str(self.containers[i].get_wrapped_container().id), self._container_pid
        )
        self._pin = (
            HarnessPin(split_cores(settings.broker_cores)) if settings.broker_cores else None
        )

    def start(self) -> Cluster:
        started = time.monotonic()
        docker = DockerCli()
        server = docker.ping()
        self._docker = docker  # from here on there may be something to remove
        if self._pin is not None and not docker.is_local():
            raise KafkaSetupError(
                f"--frida-broker-cores={self.settings.broker_cores}: the"
                f" Docker daemon ({docker.where}) is not this machine, whose"
                " cores the brokers and the harness are split over"
            )
        sweep_orphans(docker)
        image = choose_kafka_image(docker, self.settings.kafka_image, self.settings.kafka_version)
        labels = owner_labels(self.run_id)
        network = Network(docker_network_kw={"labels": labels})
        network.name = f"frida-{self.run_id}"
        # an interrupt inside a create would leave the daemon finishing it after our
        # cleanup has looked: each create runs to its end and is recorded first
        with interrupts_deferred("creating the run's network"):
            network.create()
            self._network = network
        count = self.settings.brokers
        ports = free_ports(2 * count)
        exporters = self._exporters(docker, ports[count:])
        aliases = [f"frida-{self.run_id}-kafka-{i}" for i in range(count)]
        voters = list(enumerate(aliases))
        cluster_id = new_cluster_id()
        nodes = []
        for i in range(count):
            node = ApacheKafkaContainer(
                image,
                i,
                aliases[i],
                voters,
                ports[i],
                network,
                cluster_id,
                self.settings.broker_config,
                labels,
                exporter=exporters.get(i),
                cpuset=self._pin.split.broker_list if self._pin else None,
            )
            with interrupts_deferred(f"creating {aliases[i]}"):
                self.containers.append(node)
                node.start()
            nodes.append(node)
        for node in nodes:
            node.wait_started(START_TIMEOUT_S)
        ports = ports[:count]
        bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
        wait_until_ready(bootstrap, count, START_TIMEOUT_S, self._first_dead)
        if self._pin is not None:
            if not any(self._pids().values()):
                raise KafkaSetupError(
                    f"--frida-broker-cores={self.settings.broker_cores}: the brokers'"
                    " containers do not run on this machine's kernel (Docker Desktop,"
                    " colima), whose cores the split is made of"
                )
            try:
                self._pin.apply()
            except OSError as exc:
                raise KafkaSetupError(
                    f"--frida-broker-cores={self.settings.broker_cores}: {exc}"
                ) from None
        image_id = docker.inspect("image", [image])[0].get("Id", "")
        return Cluster(
            site=self.name,
            bootstrap=bootstrap,
            brokers=[BrokerInfo(i, "127.0.0.1", p) for i, p in enumerate(ports)],
            kafka_version=self.settings.kafka_version,
            launcher=LocalAgentLauncher(self.run_dir / "logs" / "agents"),
            hosts=[socket.gethostname()],
            ready_seconds=time.monotonic() - started,
            details={
                "kafka_image": image,
                "kafka_image_id": image_id,
                "docker_server": server,
                "containers": aliases,
                **cores_details(self._pin),
            },
            health=lambda: cluster_problem(
                bootstrap, count - len(self.faults.down), self._first_dead
            ),
            faults=self.faults,
            monitor=self._monitor(docker),
            monitor_note=self._metrics_off or "--frida-monitor=off",
            broker_cores=self.settings.broker_cores or None,
        )

    def _exporters(self, docker: DockerCli, ports: list[int]) -> dict[int, tuple[Path, str, int]]:
        """Per broker: the JMX exporter's directory (jar and config, mounted read-only),
        its JVM flag inside the container and its loopback port. None on a remote daemon,
        which cannot mount this machine's files, or with the monitor off; why is kept."""
        self._metrics_urls = {}
        if not self.settings.monitor:
            self._metrics_off = "--frida-monitor=off"
            return {}
        if not docker.is_local():
            self._metrics_off = (
                f"the Docker daemon ({docker.where}) is not on this machine,"
                " which reads the brokers' figures"
            )
            return {}
        jar, self._metrics_off = exporter.agent_or_reason()
        if jar is None:
            self.notify(f"pytest-frida: broker metrics off: {self._metrics_off}")
            return {}
        self._exporter_dir = Path(tempfile.mkdtemp(prefix="frida-exporter-"))
        self._exporter_dir.chmod(0o755)  # the image's user reads it
        shutil.copy(jar, self._exporter_dir / jar.name)
        (self._exporter_dir / "config.yml").write_text(exporter.config_text())
        flag = exporter.agent_flag(
            Path(EXPORTER_DIR) / jar.name,
            "0.0.0.0",
            EXPORTER_PORT,
            Path(EXPORTER_DIR) / "config.yml",
        )
        out = {}
        for i, port in enumerate(ports):
            out[i] = (self._exporter_dir, flag, port)
            self._metrics_urls[i] = exporter.metrics_url("127.0.0.1", port)
        return out

    def _monitor(self, docker: DockerCli) -> LocalBrokerMonitor | None:
        """The brokers' figures from their containers' cgroups, where the daemon is local."""
        if not self.settings.monitor or not docker.is_local():
            return None
        root = docker.info_value("DockerRootDir")
        return LocalBrokerMonitor(
            self._pids,
            self._metrics_urls,
            Path(root) if root and Path(root).exists() else None,
            self._metrics_off,
            read_broker=read_container,
            core_groups=core_groups(self._pin),
        )

    def _pids(self) -> dict[int, int | None]:
        """Each running broker's main process as this host numbers it."""
        up = self._container_pids(
            i for i in range(len(self.containers)) if i not in self.faults.down
        )
        return {i: up.get(i) for i in range(len(self.containers))}

    def _container_pid(self, container_id: str) -> int:
        assert self._docker is not None
        return self._docker.container_pid(container_id)

    def broker_container(self, broker: int) -> ApacheKafkaContainer:
        """Broker `broker`'s container, for the fault injector."""
        if not 0 <= broker < len(self.containers):
            raise ValueError(f"no broker {broker}; brokers are 0..{len(self.containers) - 1}")
        return self.containers[broker]

    def _first_dead(self) -> str | None:
        for i, node in enumerate(self.containers):
            if i in self.faults.down:
                continue
            wrapped = node.get_wrapped_container()
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                return f"container {node.alias} {wrapped.status}:\n{node.log_tail()}"
        return None

    def stop(self) -> None:
        if self._pin is not None:
            self._pin.release()
        containers = self.containers
        save_broker_logs(
            self.run_dir,
            range(len(containers)),
            lambda i: containers[i].get_wrapped_container().logs(),
        )
        if self._docker is not None and self.containers:
            # all at once, with a short grace: stopped one by one, the last brokers lose
            # their controller quorum and wait out docker's whole stop timeout
            with contextlib.suppress(Exception):  # removal below must happen regardless
                ids = [
                    c.get_wrapped_container().id
                    for c in self.containers
                    if c.get_wrapped_container() is not None
                ]
                if ids:
                    self._docker.run(
                        "stop", "-t", str(int(STOP_GRACE_S)), *ids, check=False, timeout=60
                    )
        for node in self.containers:
            with contextlib.suppress(Exception):
                node.stop()
        self.containers.clear()
        if self._network is not None:
            with contextlib.suppress(Exception):
                self._network.remove()
            self._network = None
        if self._exporter_dir is not None:
            shutil.rmtree(self._exporter_dir, ignore_errors=True)
            self._exporter_dir = None
        if self._docker is not None:
            remove_run_objects(self._docker, self.run_id)
            left = self._docker.lines("ps", "-aq", "--filter", f"label=frida.run={self.run_id}")
            if left:
                raise DockerError(
                    f"containers of run {self.run_id} could not be removed:"
                    f" {' '.join(left)} (docker rm -f them)"
                )


class _DockerFaults(BrokerFaults):
    """Faults through the Docker API: kill, stop, restart, pause and unpause a container.
    A restarted node keeps its container file system, so it rejoins as itself."""

    def __init__(self, site: DockerSite) -> None:
        super().__init__()
        self.site = site

    def _container(self, broker: int) -> Any:
        return self.site.broker_container(broker).get_wrapped_container()

    def kill(self, broker: int) -> None:
        self.down.add(broker)
        self._container(broker).kill()

    def stop(self, broker: int) -> None:
        self.down.add(broker)
        self._container(broker).stop(timeout=30)

    def restart(self, broker: int) -> None:
        container = self._container(broker)
        container.reload()
        if container.status == "paused":
            container.unpause()
        container.restart(timeout=30)
        self.down.discard(broker)

    def pause(self, broker: int) -> None:
        self.down.add(broker)
        self._container(broker).pause()

    def resume(self, broker: int) -> None:
        self._container(broker).unpause()
        self.down.discard(broker)

    def _tc(self, broker: int, *args: str) -> None:
        """`tc` in the container's network namespace, run from this host (the image need
        not have iproute2)."""
        container = self._container(broker)
        container.reload()
        pid = str(container.attrs["State"]["Pid"])
        for tool in ("nsenter", "tc"):
            if shutil.which(tool) is None:
                raise RuntimeError(
                    f"network faults need {tool} on this host (iproute2, util-linux)"
                )
        done = subprocess.run(
            ["nsenter", "-t", pid, "-n", "tc", "qdisc", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if "qdisc kind is unknown" in done.stderr:
            raise RuntimeError(
                "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is not"
                " set): network delay and loss faults need it"
            )
        if done.returncode != 0:
            raise RuntimeError(f"tc qdisc {' '.join(args)}: {done.stderr.strip()}")

    def netem(self, broker: int, spec: str) -> None:
        self._tc(broker, "replace", "dev", "eth0", "root", "netem", *spec.split())

    def heal(self, broker: int) -> None:
        self._tc(broker, "del", "dev", "eth0", "root")
