"""Kafka and agents on machines reached over SSH: what the hosts and Grid'5000 sites share.

Roles: the first `brokers` hosts run a combined broker+controller node each (on ports
9092/9093, bound to the host's own name), the consumer runs on the first broker host (or
on a host of its own, see Roles), and the remaining hosts run producers. Each node needs
Java and sees the controller's Kafka jars and Python installation at the same paths (a
shared home, as on Grid'5000); the preparation checks that on every node at once and says
which node lacks what.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.kafka import commands, distribution, exporter
from pytest_frida.kafka.errors import key_line
from pytest_frida.kafka.java import too_old
from pytest_frida.kafka.readiness import cluster_problem, wait_until_ready
from pytest_frida.kafka.server_config import (
    NodeAddress,
    log4j_config,
    new_cluster_id,
    server_properties,
)
from pytest_frida.runtimes.broker_logs import save_broker_logs
from pytest_frida.runtimes.clock_sync import sync_clock, unsynchronised_note
from pytest_frida.runtimes.node_monitor import NodeBroker, NodeBrokerMonitor
from pytest_frida.runtimes.process import ManagedProcess, stop_together
from pytest_frida.runtimes.ptp import PtpDomain
from pytest_frida.runtimes.ssh import (
    RemoteError,
    check_hosts,
    remote_process,
    tied_to_stdin,
)
from pytest_frida.runtimes.ssh_agents import SshAgentLauncher
from pytest_frida.sites.base import BrokerInfo, Cluster
from pytest_frida.sites.nodes import NodeAccess, NodeDeployment, Roles, host_name

BROKER_PORT = 9092
CONTROLLER_PORT = 9093
READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 5.0
#: a system property naming each broker's directory, by which its node finds its process
BROKER_MARK = "frida.broker"
#: where each broker's JMX exporter serves, on its node's name
NODE_METRICS_PORT = 9404
#: run by the controller's Python path on every node: a shared home gives the nodes the
#: same interpreter, but a path that exists there may be another one (Debian 11's 3.9)
NODE_PYTHON_CHECK = (
    "import sys; v = sys.version_info[:2]; sys.exit('Python %d.%d there;"
    " pytest-frida needs 3.10 or later' % v) if v < (3, 10) else None;"
    " import pytest_frida"
)


class RemoteKafka(NodeDeployment):
    """Brokers on `roles.brokers` over SSH, started and stopped with the run."""

    def __init__(
        self,
        settings: ClusterSettings,
        run_dir: Path,
        run_id: str,
        access: NodeAccess,
        roles: Roles,
        notify: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.notify = notify
        self.settings = settings
        self.run_dir = run_dir
        self.access = access
        self.ssh = access.ssh
        self.roles = roles
        #: what chrony said on each node after synchronising it (--frida-clock-sync)
        self.clock_sync: dict[str, dict[str, object]] = {}
        self.remote_dir = f"/tmp/frida-kafka-{run_id}"
        self.servers: list[ManagedProcess] = []
        self.run_id = run_id
        #: --frida-clock-sync=ptpd: the nodes' ptpd, for the whole run
        self.ptp: PtpDomain | None = None
        #: each broker's JMX exporter, or why there is none
        self._metrics_urls: dict[int, str] = {}
        self._metrics_off: str | None = "--frida-monitor=off"

    def prepare(self, dist: distribution.KafkaDistribution) -> None:
        """Every node reaches us, runs our Python with pytest-frida; brokers have Java and
        the Kafka jars."""
        everyone = sorted({*self.roles.brokers, *self.roles.producers, self.roles.consumer})
        check_hosts(
            everyone,
            self.ssh,
            f"{shlex.quote(sys.executable)} -c {shlex.quote(NODE_PYTHON_CHECK)}",
            f"running {sys.executable} with pytest-frida",
        )
        if self.settings.clock_sync == "chrony":
            for host in everyone:
                sync = self.clock_sync[host_name(host)] = sync_clock(
                    self.ssh, self.access.sudo, host
                )
                note = unsynchronised_note(host, sync)
                if note:
                    self.notify(note)
        elif self.settings.clock_sync == "ptpd":
            ordered = self.roles.everyone()  # the first broker's node is the master
            self.ptp = PtpDomain(self.ssh, self.access.sudo, self.run_id, self.run_dir / "logs")
            self.ptp.start(ordered, self.notify)
            for host, record in self.ptp.wait(ordered, self.notify).items():
                self.clock_sync[host_name(host)] = record
        check_hosts(
            self.roles.brokers,
            self.ssh,
            f"java -version && test -d {shlex.quote(str(dist.libs))}",
            f"Java and the Kafka jars in {dist.libs}",
        )
        for host in self.roles.brokers:  # Grid'5000's standard environment has Java 11
            why = too_old(dist.version, self.ssh.run(host, "java -version 2>&1"), host)
            if why:
                raise RemoteError(
                    f"{why}: install a newer JDK on the broker nodes (first on"
                    " the PATH of `ssh NODE CMD`), or run Kafka in a container"
                    " (--frida-runtime=swarm)"
                )

    def start(self, started: float) -> Cluster:
        dist = distribution.resolve(self.settings.kafka_version, self.settings.kafka_home)
        self.prepare(dist)
        nodes = [
            NodeAddress(i, host_name(host), BROKER_PORT, CONTROLLER_PORT)
            for i, host in enumerate(self.roles.brokers)
        ]
        cluster_id = new_cluster_id()
        agent_flags = self._exporter(nodes)
        for node in nodes:
            base = f"{self.remote_dir}/node-{node.node_id}"
            props = server_properties(node, nodes, Path(base) / "data", self.settings.broker_config)
            text = "".join(f"{k}={v}\n" for k, v in props.items())
            log4j = log4j_config(Path(base) / "server.log", dist.uses_log4j2)
            host = self.roles.brokers[node.node_id]
            self.ssh.run(
                host, f"mkdir -p {base} && cat > {base}/server.properties", input_text=text
            )
            self.ssh.run(host, f"cat > {base}/log4j.properties", input_text=log4j)
            fmt = commands.format_storage(
                Path("java"),
                dist,
                Path(f"{base}/server.properties"),
                cluster_id,
                Path(f"{base}/log4j.properties"),
            )
            self.ssh.run(host, shlex.join(fmt), timeout=120)
        for node in nodes:
            base = f"{self.remote_dir}/node-{node.node_id}"
            argv = commands.kafka_server(
                Path("java"),
                dist,
                Path(f"{base}/server.properties"),
                Path(f"{base}/log4j.properties"),
                extra_flags=(f"-D{BROKER_MARK}={base}", *agent_flags.get(node.node_id, ())),
            )
            log = self.run_dir / "logs" / f"broker-{node.node_id}" / "stdout.log"
            self.servers.append(
                remote_process(
                    f"broker-{node.node_id}",
                    self.ssh,
                    self.roles.brokers[node.node_id],
                    tied_to_stdin(shlex.join(argv), grace_s=int(STOP_GRACE_S)),
                    log_path=log,
                )
            )
        bootstrap = ",".join(f"{n.host}:{n.broker_port}" for n in nodes)
        wait_until_ready(bootstrap, len(nodes), READY_TIMEOUT_S, self._first_dead)
        launcher = SshAgentLauncher(
            self.ssh, self.roles.producers, self.roles.consumer, self.run_dir / "logs" / "agents"
        )
        return Cluster(
            site=self.settings.site,
            bootstrap=bootstrap,
            brokers=[BrokerInfo(n.node_id, n.host, n.broker_port) for n in nodes],
            kafka_version=dist.version,
            launcher=launcher,
            hosts=sorted({host_name(h) for h in self.roles.everyone()}),
            ready_seconds=time.monotonic() - started,
            details={
                "runtime": "ssh",
                "roles": self.roles.as_dict(),
                "kafka_libs": str(dist.libs),
                **({"clock_sync": self.clock_sync} if self.settings.clock_sync != "off" else {}),
            },
            health=lambda: cluster_problem(bootstrap, len(nodes), self._first_dead),
            monitor=self._monitor(nodes),
            monitor_note=self._metrics_off or "--frida-monitor=off",
            shared_nodes=self.roles.shared_nodes(),
        )

    def _exporter(self, nodes: list[NodeAddress]) -> dict[int, tuple[str, ...]]:
        """Each broker's JMX exporter flag, serving on its node's name. The agent's jar is
        the controller's cached one, at the same path on nodes that share its home (as the
        Kafka jars are); where a broker node cannot read it, no broker gets the agent and
        the report says why."""
        self._metrics_urls = {}
        self._metrics_off = "--frida-monitor=off"
        if not self.settings.monitor:
            return {}
        jar, self._metrics_off = exporter.agent_or_reason()
        if jar is None:
            return {}
        try:
            check_hosts(
                self.roles.brokers,
                self.ssh,
                f"test -r {shlex.quote(str(jar))}",
                f"the JMX exporter's jar at {jar}",
            )
        except RemoteError as exc:
            self._metrics_off = f"Kafka's figures off: {key_line(str(exc))}"
            self.notify(f"pytest-frida: {self._metrics_off}")
            return {}
        flags: dict[int, tuple[str, ...]] = {}
        for node in nodes:
            config = f"{self.remote_dir}/node-{node.node_id}/jmx-exporter.yml"
            host = self.roles.brokers[node.node_id]
            self.ssh.run(
                host,
                f"mkdir -p {shlex.quote(str(Path(config).parent))} && cat > {shlex.quote(config)}",
                input_text=exporter.config_text(),
            )
            flags[node.node_id] = (
                exporter.agent_flag(jar, node.host, NODE_METRICS_PORT, Path(config)),
            )
            self._metrics_urls[node.node_id] = exporter.metrics_url(node.host, NODE_METRICS_PORT)
        return flags

    def _remove_after_brokers(self) -> str:
        """The run's directory removed once its brokers on the node have exited: the
        wrapper on the node stops a broker only when its ssh session ends, and gives it
        STOP_GRACE_S more (tied_to_stdin), while a clean shutdown still writes into it."""
        mark = shlex.quote(f"^[^ ]*java .*-D{BROKER_MARK}={self.remote_dir}/")
        polls = int((STOP_GRACE_S + 5) / 0.2)
        return (
            f"i=0; while pgrep -f {mark} >/dev/null && [ $i -lt {polls} ]; do sleep 0.2;"
            f" i=$((i+1)); done; rm -rf {shlex.quote(self.remote_dir)}"
        )

    def _monitor(self, nodes: list[NodeAddress]) -> NodeBrokerMonitor | None:
        """Each broker's process and node read over the run's ssh connections."""
        if not self.settings.monitor:
            return None
        brokers = {}
        for node in nodes:
            base = f"{self.remote_dir}/node-{node.node_id}"
            # the java process (its launcher may re-exec itself by full path), not the
            # shell that started it, by a flag early in its long command line
            brokers[node.node_id] = NodeBroker(
                self.roles.brokers[node.node_id],
                f"pgrep -n -f {shlex.quote(f'^[^ ]*java .*-D{BROKER_MARK}={base} ')}",
                shlex.quote(f"{base}/data"),
            )
        return NodeBrokerMonitor(
            lambda host, command, timeout: self.ssh.run(host, command, timeout=timeout),
            brokers,
            self._metrics_urls,
            self._metrics_off,
        )

    def _first_dead(self) -> str | None:
        for server in self.servers:
            if not server.is_running():
                tail = server.log_tail()
                return f"{server.name} (exit code {server.returncode}): {key_line(tail)}"
        return None

    def stop(self) -> None:
        # ending the ssh clients closes the wrappers' stdin: they kill the brokers
        stop_together(self.servers, STOP_GRACE_S)
        if self.ptp is not None:
            self.ptp.stop()
            self.ptp = None
        hosts = self.roles.brokers[: len(self.servers)]
        save_broker_logs(
            self.run_dir,
            range(len(hosts)),
            lambda i: self.ssh.run(
                hosts[i], f"cat {self.remote_dir}/node-{i}/server.log", timeout=30
            ),
            unreadable=(RemoteError, OSError),  # the node may be gone
        )
        for host in self.roles.brokers:
            with contextlib.suppress(RemoteError):
                self.ssh.run(host, self._remove_after_brokers(), timeout=30)
        self.servers.clear()
        self.ssh.close(self.roles.everyone())
