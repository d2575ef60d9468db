"""A simulated Grid'5000 site on this machine: its nodes are real network namespaces.

Each node has its own address on a private bridge, its own host name (a UTS namespace),
its own sshd reached with a key made for this testbed, and an entry in /etc/hosts, so that
`ssh uvb-1.sophia.grid5000.fr` from the controller reaches it exactly as on the testbed.
The namespaces share this machine's file system (as Grid'5000 nodes share the NFS home)
and its clock (skew is injected per node with libfaketime).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

HOSTS_FILE = Path("/etc/hosts")
SUBNET = "10.144.0"
BRIDGE_ADDRESS = f"{SUBNET}.254"
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Node:
    name: str  # uvb-1.sophia.grid5000.fr
    netns: str
    address: str
    veth: str
    sshd: subprocess.Popen[bytes] | None = None
    #: libfaketime offset applied to everything started over ssh, e.g. "+0.5" (seconds)
    skew: str | None = None

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class Testbed:
    """`count` nodes of `cluster` at `site`, under `workdir` (keys, sshd configs, logs)."""

    __test__ = False  # not a test class, whatever pytest makes of the name

    workdir: Path
    site: str = "sophia"
    cluster: str = "uvb"
    count: int = 3
    tag: str = "fridasim"
    nodes: list[Node] = field(default_factory=list)
    bridge: str = ""

    @property
    def key(self) -> Path:
        return self.workdir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.workdir / "ssh_config"

    def ssh_options(self) -> list[str]:
        return ["-F", str(self.ssh_config)]

    def start(self) -> Testbed:
        for tool in ("ip", "sshd", "ssh-keygen", "unshare"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"the simulated testbed needs {tool}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bridge = f"{self.tag}br"
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        # Docker sets the FORWARD policy to DROP, and with br_netfilter that applies to
        # traffic between ports of our bridge too: node-to-node traffic must pass
        if shutil.which("iptables"):
            _run("iptables", "-I", "FORWARD", "-i", self.bridge, "-o", self.bridge, "-j",
                 "ACCEPT", check=False)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
             str(self.workdir / "host_key"))
        (self.workdir / "authorized_keys").write_text(
            (self.workdir / "id_ed25519.pub").read_text())
        for i in range(1, self.count + 1):
            self._add_node(i)
        self._write_hosts()
        self.ssh_config.write_text(
            "".join(f"Host {n.name} {n.short}\n  HostName {n.address}\n" for n in self.nodes)
            + f"Host *\n  User root\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
              "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
              "  LogLevel ERROR\n  BatchMode yes\n")
        for node in self.nodes:
            self.start_sshd(node)
        return self

    def _add_node(self, i: int) -> None:
        node = Node(f"{self.cluster}-{i}.{self.site}.grid5000.fr", f"{self.tag}-{i}",
                    f"{SUBNET}.{i}", f"{self.tag}v{i}")
        _run("ip", "netns", "add", node.netns)
        _run("ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns",
             node.netns)
        _run("ip", "link", "set", node.veth, "master", self.bridge)
        _run("ip", "link", "set", node.veth, "up")
        inside = ["ip", "netns", "exec", node.netns]
        _run(*inside, "ip", "addr", "add", f"{node.address}/24", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "route", "add", "default", "via", BRIDGE_ADDRESS)
        self.nodes.append(node)

    def _write_hosts(self) -> None:
        self._strip_hosts()
        block = "".join(f"{n.address} {n.name} {n.short}\n" for n in self.nodes)
        with HOSTS_FILE.open("a") as fh:
            fh.write(f"# {self.tag} begin\n{block}# {self.tag} end\n")

    def _strip_hosts(self) -> None:
        lines = HOSTS_FILE.read_text().splitlines(keepends=True)
        out, skipping = [], False
        for line in lines:
            if line.strip() == f"# {self.tag} begin":
                skipping = True
            elif line.strip() == f"# {self.tag} end":
                skipping = False
            elif not skipping:
                out.append(line)
        HOSTS_FILE.write_text("".join(out))

    def start_sshd(self, node: Node) -> None:
        config = self.workdir / f"sshd-{node.short}.conf"
        config.write_text(
            f"ListenAddress {node.address}\nHostKey {self.workdir / 'host_key'}\n"
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}\nPermitRootLogin yes\n"
            f"StrictModes no\nUsePAM no\nPidFile {self.workdir / f'sshd-{node.short}.pid'}\n"
            "PasswordAuthentication no\nAcceptEnv FRIDA_*\nSetEnv"
            f" FRIDA_SIMULATED_NODE={node.name}"
            + (f" LD_PRELOAD={FAKETIME_LIB} FAKETIME={node.skew}"
               if node.skew else "") + "\n")
        env = dict(os.environ)
        Path("/run/sshd").mkdir(exist_ok=True)
        node.sshd = subprocess.Popen(
            ["ip", "netns", "exec", node.netns, "unshare", "--uts", "sh", "-c",
             f"hostname {node.name} && exec /usr/sbin/sshd -D -e -f {config}"],
            env=env, stdout=subprocess.DEVNULL,
            stderr=(self.workdir / f"sshd-{node.short}.log").open("ab"),
            start_new_session=True)
        deadline = time.monotonic() + 20
        while self.ssh(node, "true", check=False).returncode != 0:
            if node.sshd.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / f"sshd-{node.short}.log").read_text()[-1500:]
                raise RuntimeError(f"sshd on {node.name} did not come up: {log}")
            time.sleep(0.2)

    def stop_sshd(self, node: Node) -> None:
        if node.sshd is not None and node.sshd.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.sshd.pid, signal.SIGTERM)
            node.sshd.wait(10)
        node.sshd = None

    def set_skew(self, node: Node, skew: str | None) -> None:
        """Restart the node's sshd so that what runs over ssh sees the clock `skew` off."""
        self.stop_sshd(node)
        node.skew = skew
        self.start_sshd(node)

    def ssh(self, node: Node, command: str, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", *self.ssh_options(), node.name, command],
                              capture_output=True, text=True, timeout=30, check=check)

    def delay(self, node: Node, spec: str) -> None:
        """netem on the node's link, e.g. "delay 20ms" (both directions see it once)."""
        _run("tc", "qdisc", "replace", "dev", node.veth, "root", "netem", *spec.split())

    def cut(self, node: Node) -> None:
        """The node drops off the network (a lost node)."""
        _run("ip", "link", "set", node.veth, "down")

    def stop(self) -> None:
        for node in self.nodes:
            self.stop_sshd(node)
            # whatever a run left on the node dies with its namespace's processes
            pids = _run("ip", "netns", "pids", node.netns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run("ip", "link", "del", node.veth, check=False)
            _run("ip", "netns", "del", node.netns, check=False)
        if self.bridge:
            if shutil.which("iptables"):
                _run("iptables", "-D", "FORWARD", "-i", self.bridge, "-o", self.bridge, "-j",
                     "ACCEPT", check=False)
            _run("ip", "link", "del", self.bridge, check=False)
        self._strip_hosts()
        self.nodes.clear()
