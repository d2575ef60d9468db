"""A simulated Grid'5000 site on this machine: its nodes are real network namespaces.

Each node has its own address on a private bridge, its own host name (a UTS namespace),
its own sshd reached with a key made for this testbed, and an entry in /etc/hosts, so that
`ssh uvb-9.sophia.grid5000.fr` from the controller reaches it exactly as on the testbed.
The namespaces share this machine's file system (as Grid'5000 nodes share the NFS home)
and its clock (skew is injected per node with libfaketime).

Logins are an ordinary account's, as on the testbed (`NODE_USER`; sshd refuses root): root
is had only through `sudo-g5k`, which here is real sudo (plain `sudo` runs nothing else),
and the Docker socket `g5k-setup-docker` starts is the user's to use when the user ran it
(it gets root itself), as the real one means it to be. The controller still runs as root
here (it makes the namespaces), where on the testbed the frontend login and the nodes' are
one user: so an ACL entry lets the login traverse this machine's /root while the testbed
lives (the controller's Python and Kafka cache sit below it, as they sit in the shared
home on Grid'5000), and the testbed's own files live outside pytest's private temporary
directories.

PTP: Debian's real ptpd runs on the nodes over the bridge, told never to adjust the clock
(the nodes share this machine's), so it measures and reports offsets as on the testbed.

Docker on a node: a stand-in for Grid'5000's `g5k-setup-docker` sits where the testbed
keeps it, /grid5000/code/bin, which is on no PATH of an `ssh node CMD` session (only login
shells add it on the testbed); it starts a real dockerd of the node's own (its data under
the testbed, its socket in the node's DOCKER_HOST, in the node's network namespace). Those
daemons form real swarms with real overlay networks across the nodes. A node's clock skew
reaches its containers too: the node's dockerd runs containers through a small OCI runtime
wrapper that adds libfaketime to every container process and `docker exec`, with the node's
current skew.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HOSTS_FILE = Path("/etc/hosts")
SUBNET = "10.144.0"
BRIDGE_ADDRESS = f"{SUBNET}.254"
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
#: per-node Docker sockets and exec roots (short paths: unix sockets live below them)
RUN_ROOT = Path("/run/fridasim")
#: where Grid'5000 keeps its own tools on nodes and frontends
G5K_CODE_BIN = Path("/grid5000/code/bin")
#: the account nodes are reached as: a Grid'5000 login, root only through sudo-g5k
NODE_USER = "fridag5k"
#: the one command the login may run through plain sudo: sudo-g5k's root side, a
#: root-owned script of the testbed (never a general tool such as env, which would make
#: plain `sudo env CMD` root and hide a call that skips sudo-g5k)
ROOT_SIDE = "sudo-g5k-root"
#: the controller's home (its Python and Kafka cache), which the login traverses
CONTROLLER_HOME = Path("/root")
#: sudo-g5k on a node: root for the job's owner (here through sudo); the node's identity
#: in the simulation (its name, Docker socket, sim directory, clock skew) goes along
SUDO_G5K = """#!/bin/sh
[ "$(id -u)" = 0 ] && exec "$@"
exec sudo -n {root_side} PATH="$PATH" FRIDA_SIMULATED_NODE="$FRIDA_SIMULATED_NODE" \\
  DOCKER_HOST="$DOCKER_HOST" FRIDA_SIM_DIR="$FRIDA_SIM_DIR" \\
  ${{LD_PRELOAD:+LD_PRELOAD=$LD_PRELOAD}} \\
  ${{FAKETIME_TIMESTAMP_FILE:+FAKETIME_TIMESTAMP_FILE=$FAKETIME_TIMESTAMP_FILE}} \\
  ${{FAKETIME_CACHE_DURATION:+FAKETIME_CACHE_DURATION=$FAKETIME_CACHE_DURATION}} "$@"
"""
HERE = Path(__file__).parent
LINK_DELAY = HERE / "link_delay.py"

SETUP_DOCKER = """#!/bin/sh
# Stand-in for Grid'5000's g5k-setup-docker on a simulated node: starts this node's own
# Docker daemon (in the node's network namespace, data in the testbed) and waits for it.
# As the real one ("Install Docker locally and make Docker commands available without
# user needing to log out"), it is run by the login and gets root itself through
# sudo-g5k; Docker is then the login's to use. Run as root from the start (under
# sudo-g5k), the one who ran it is root, and the socket is root's alone: the real
# script's public opening does not show that it grants anyone else then. How the real
# one grants it is not public; public job scripts run `docker` in the same shell right
# after it, which a new supplementary group could not serve (a running session keeps
# its groups), so here the socket's group is the login's own. frida ends its shared ssh
# connection after the setup all the same, in case a node grants a group instead.
set -eu
if [ "$(id -u)" != 0 ]; then
  exec sudo-g5k env G5K_SETUP_DOCKER_FOR="$(id -un)" "$0" "$@"
fi
short=${{FRIDA_SIMULATED_NODE%%.*}}
run={run_root}/$short
mkdir -p "$run" {workdir}/docker-$short
if docker info >/dev/null 2>&1; then echo "Docker is already installed"; exit 0; fi
echo "Installing Docker (simulated node $FRIDA_SIMULATED_NODE)..."
env -u LD_PRELOAD -u FAKETIME setsid {dockerd} --data-root {workdir}/docker-$short \\
    --exec-root "$run/exec" -H "unix://$run/docker.sock" --pidfile "$run/dockerd.pid" \\
    --bridge=none --iptables=false --cgroup-parent=fridasim-$short \\
    --group "$(id -gn "${{G5K_SETUP_DOCKER_FOR:-root}}")" \\
    --add-runtime simclock={workdir}/simclock-$short --default-runtime=simclock \\
    >{workdir}/dockerd-$short.log 2>&1 </dev/null &
for i in $(seq 120); do
  if docker info >/dev/null 2>&1; then echo "Docker is ready"; exit 0; fi
  sleep 0.5
done
echo "dockerd did not come up; see {workdir}/dockerd-$short.log" >&2
exit 1
"""

JAVA = """#!/bin/sh
# Java on a simulated node: this machine's, unless the test gave the node an older one
# (a file naming its version, as Grid'5000's standard environment has Debian 11's Java 11).
old={workdir}/java-${{FRIDA_SIMULATED_NODE%%.*}}
if [ -f "$old" ]; then
  if [ "$1" = "-version" ]; then
    echo "openjdk version \\"$(cat "$old")\\" 2023-07-18" >&2
    echo "OpenJDK Runtime Environment (build $(cat "$old")+8-post-Debian-1deb11u1)" >&2
    exit 0
  fi
  echo "Error: LinkageError occurred while loading main class (class file version 61.0)" >&2
  exit 1
fi
exec {java} "$@"
"""

SIMCLOCK = """#!{python}
# OCI runtime wrapper of a simulated node's dockerd: when the node's clock is skewed, every
# container process and every `docker exec` gets libfaketime reading the node's clock file
# ({skew_file}), so containers see the node's clock as its ssh sessions do; then it is
# plain runc.
import json, os, sys
args = sys.argv[1:]
LIB, CLOCK = {lib!r}, {skew_file!r}
def skewed():
    try:
        return bool(open(CLOCK).read().strip())
    except OSError:
        return False
def patch_process(process):
    env = [e for e in process.get("env", []) if not e.startswith(("LD_PRELOAD=", "FAKETIME"))]
    if skewed():
        env += ["LD_PRELOAD=" + LIB, "FAKETIME_TIMESTAMP_FILE=" + CLOCK,
                "FAKETIME_CACHE_DURATION=1"]
    process["env"] = env
def rewrite(path, change):
    with open(path) as fh:
        doc = json.load(fh)
    change(doc)
    with open(path, "w") as fh:
        json.dump(doc, fh)
def patch_config(doc):
    patch_process(doc["process"])
    for path in (LIB, CLOCK):
        doc.setdefault("mounts", []).append({{"destination": path, "type": "bind",
                                             "source": path, "options": ["rbind", "ro"]}})
if "--bundle" in args and "create" in args:
    rewrite(os.path.join(args[args.index("--bundle") + 1], "config.json"), patch_config)
if "--process" in args and "exec" in args:
    rewrite(args[args.index("--process") + 1], patch_process)
os.execv({runc!r}, [{runc!r}, *args])
"""


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Node:
    name: str  # uvb-9.sophia.grid5000.fr
    netns: str
    address: str
    veth: str
    sshd: subprocess.Popen[bytes] | None = None
    #: libfaketime offset applied to everything started over ssh, e.g. "+0.5" (seconds)
    skew: str | None = None
    #: the forwarder holding the node's frames (see Testbed.delay), while one runs
    delayer: subprocess.Popen[str] | None = None

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def docker_host(self) -> str:
        """The node's Docker daemon, as its DOCKER_HOST (reachable from this machine too)."""
        return f"unix://{RUN_ROOT / self.short / 'docker.sock'}"


@dataclass
class Testbed:
    """`count` nodes of `cluster` at `site`, under `workdir` (keys, sshd configs, logs)."""

    __test__ = False  # not a test class, whatever pytest makes of the name

    workdir: Path
    site: str = "sophia"
    cluster: str = "uvb"
    count: int = 3
    #: the first node's number: Sophia's default-queue nodes are uvb-9..uvb-12, so names
    #: cross from one digit to two as on the testbed (a text sort puts uvb-10 first)
    first: int = 9
    tag: str = "fridasim"
    #: the login on every node (root only through its sudo-g5k)
    user: str = NODE_USER
    nodes: list[Node] = field(default_factory=list)
    bridge: str = ""

    @property
    def sudoers(self) -> Path:
        return Path(f"/etc/sudoers.d/{self.user}")

    @property
    def key(self) -> Path:
        return self.workdir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.workdir / "ssh_config"

    @property
    def bin_dir(self) -> Path:
        """Commands on every node's PATH that stand in for Grid'5000's own."""
        return self.workdir / "node-bin"

    def ssh_options(self) -> list[str]:
        return ["-F", str(self.ssh_config)]

    def start(self) -> Testbed:
        for tool in ("ip", "sshd", "ssh-keygen", "unshare"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"the simulated testbed needs {tool}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # the nodes' user reads its tools and clock files
        self._add_user()
        self.bridge = f"{self.tag}br"
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        # Docker sets the FORWARD policy to DROP, and with br_netfilter that applies to
        # traffic between ports of our bridge too: node-to-node traffic must pass
        if shutil.which("iptables"):
            _run(
                "iptables",
                "-I",
                "FORWARD",
                "-i",
                self.bridge,
                "-o",
                self.bridge,
                "-j",
                "ACCEPT",
                check=False,
            )
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.workdir / "host_key"))
        (self.workdir / "authorized_keys").write_text((self.workdir / "id_ed25519.pub").read_text())
        for i in range(self.first, self.first + self.count):
            self._add_node(i)
        self._write_node_tools()
        self._write_hosts()
        self.ssh_config.write_text(
            "".join(f"Host {n.name} {n.short}\n  HostName {n.address}\n" for n in self.nodes)
            + f"Host *\n  User {self.user}\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n  BatchMode yes\n"
        )
        for node in self.nodes:
            self.start_sshd(node)
        return self

    def _add_user(self) -> None:
        """The nodes' login: an ordinary account with a home in the testbed, sudo for its
        sudo-g5k alone, and /root open for its traversal (module docstring)."""
        if shutil.which("sudo") is None:
            raise RuntimeError("the simulated testbed needs sudo (the nodes' sudo-g5k)")
        if shutil.which("setfacl") is None:
            raise RuntimeError("the simulated testbed needs setfacl (the acl package)")
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        if _run("id", "-u", self.user, check=False).returncode != 0:
            _run(
                "useradd",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/bin/sh",
                "--user-group",
                self.user,
            )
        _run("usermod", "--home", str(home), "--password", "*", self.user)  # "*": not locked
        shutil.chown(home, self.user, self.user)
        # plain sudo runs sudo-g5k's own call (its root side) and nothing else, so a
        # bare `sudo` fails as on a node: root is had through sudo-g5k or not at all. It
        # finds the node's tools and knows which node it is on, as sudo-g5k does (a real
        # node has them in /usr/sbin; here they sit in the testbed)
        # a killed run's full-sudo file for the hosts site must not outlive it
        Path(f"{self.sudoers}-hosts").unlink(missing_ok=True)
        self.sudoers.write_text(
            f"{self.user} ALL=(root) NOPASSWD: {self.workdir / ROOT_SIDE}\n"
            f'Defaults:{self.user} secure_path="{self.bin_dir}:/usr/local/sbin:'
            '/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n'
            f'Defaults:{self.user} env_keep += "FRIDA_SIMULATED_NODE FRIDA_SIM_DIR DOCKER_HOST"\n'
        )
        self.sudoers.chmod(0o440)
        # traversal of /root for this login alone, as an ACL entry: /root's mode is never
        # touched, so nothing of it has to be remembered (or mistaken for the original
        # when a killed run left it changed)
        _run("setfacl", "-m", f"u:{self.user}:x", str(CONTROLLER_HOME))

    @contextlib.contextmanager
    def sudoer(self) -> Iterator[None]:
        """The login may use plain sudo for anything, as on machines of one's own (the
        hosts site's), never on Grid'5000's nodes; for the `with` block only."""
        path = Path(f"{self.sudoers}-hosts")
        path.write_text(f"{self.user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        path.chmod(0o440)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def _remove_user(self) -> None:
        self.sudoers.unlink(missing_ok=True)
        Path(f"{self.sudoers}-hosts").unlink(missing_ok=True)
        home = str(CONTROLLER_HOME)
        _run("setfacl", "-x", f"u:{self.user}", home, check=False)
        acl = _run("getfacl", "-c", "-p", home, check=False).stdout.splitlines()
        # the mask our entry brought stays behind it; with no named entry left it is
        # ours alone, and /root goes back to a plain mode
        if not any(re.match(r"(default:)?(user|group):[^:]+:", line) for line in acl):
            _run("setfacl", "-b", home, check=False)
        _run("userdel", self.user, check=False)

    def _add_node(self, i: int) -> None:
        node = Node(
            f"{self.cluster}-{i}.{self.site}.grid5000.fr",
            f"{self.tag}-{i}",
            f"{SUBNET}.{i}",
            f"{self.tag}v{i}",
        )
        _run("ip", "netns", "add", node.netns)
        _run(
            "ip",
            "link",
            "add",
            node.veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            node.netns,
        )
        _run("ip", "link", "set", node.veth, "master", self.bridge)
        _run("ip", "link", "set", node.veth, "up")
        inside = ["ip", "netns", "exec", node.netns]
        _run(*inside, "ip", "addr", "add", f"{node.address}/24", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        # no default route: a node reaches the controller and the other nodes on the
        # bridge and nothing else (a Docker daemon's pull attempt fails at once); multicast
        # stays on the bridge, as on a testbed LAN (PTP's messages)
        _run(*inside, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0")
        self.nodes.append(node)

    def _write_node_tools(self) -> None:
        self.bin_dir.mkdir(exist_ok=True)
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        G5K_CODE_BIN.mkdir(parents=True, exist_ok=True)
        setup = G5K_CODE_BIN / "g5k-setup-docker"
        setup.write_text(
            SETUP_DOCKER.format(run_root=RUN_ROOT, workdir=self.workdir, dockerd=dockerd)
        )
        setup.chmod(0o755)
        root_side = self.workdir / ROOT_SIDE
        root_side.write_text('#!/bin/sh\nexec /usr/bin/env "$@"\n')  # root's, 0755
        root_side.chmod(0o755)
        sudo = self.bin_dir / "sudo-g5k"
        sudo.write_text(SUDO_G5K.format(root_side=root_side))
        sudo.chmod(0o755)
        # Debian's ptpd, told never to adjust the clock: the nodes share this machine's
        ptpd = self.bin_dir / "ptpd"
        ptpd.write_text('#!/bin/sh\nexec /usr/sbin/ptpd -n "$@"\n')  # -n: no_adjust
        ptpd.chmod(0o755)
        java = self.bin_dir / "java"
        java.write_text(JAVA.format(workdir=self.workdir, java=shutil.which("java") or "java"))
        java.chmod(0o755)
        # chrony, stepping the nodes' simulated clocks, and ntpd's query tool
        for tool in ("chronyd", "chronyc", "ntpq"):
            (self.bin_dir / tool).symlink_to(HERE / "fake_chrony.py")
        runc = shutil.which("runc") or "/usr/sbin/runc"
        for node in self.nodes:
            wrapper = self.workdir / f"simclock-{node.short}"
            wrapper.write_text(
                SIMCLOCK.format(
                    python=sys.executable,
                    skew_file=str(self.skew_file(node)),
                    lib=str(FAKETIME_LIB),
                    runc=runc,
                )
            )
            wrapper.chmod(0o755)
            self.skew_file(node).write_text("")

    def set_java(self, node: Node, version: str | None) -> None:
        """The node's `java` is of `version` (e.g. "11.0.20", too old to run anything of
        ours), or this machine's again (None)."""
        path = self.workdir / f"java-{node.short}"
        if version is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(version)

    def set_time_daemons(
        self, node: Node, ntpd: str | None = None, chrony_source: bool = True
    ) -> None:
        """The node runs ntpd ("synced", or "alarm": it lost its servers) or none (None), and
        its chrony, once started, reaches a source or not."""
        state, no_source = (
            self.workdir / f"ntpd-{node.short}",
            self.workdir / f"chrony-nosource-{node.short}",
        )
        state.unlink(missing_ok=True)
        no_source.unlink(missing_ok=True)
        if ntpd is not None:
            state.write_text(ntpd)
        if not chrony_source:
            no_source.write_text("")

    def skew_file(self, node: Node) -> Path:
        return self.workdir / f"skew-{node.short}"

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
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}\nPermitRootLogin no\n"
            f"StrictModes no\nUsePAM no\nPidFile {self.workdir / f'sshd-{node.short}.pid'}\n"
            # OpenSSH's default, written out: Grid'5000's nodes keep it
            "PasswordAuthentication no\nMaxSessions 10\nAcceptEnv FRIDA_*\nSetEnv"
            f" FRIDA_SIMULATED_NODE={node.name} DOCKER_HOST={node.docker_host}"
            f" FRIDA_SIM_DIR={self.workdir}"
            f" PATH={self.bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
            + (
                f" LD_PRELOAD={FAKETIME_LIB} FAKETIME_TIMESTAMP_FILE={self.skew_file(node)}"
                " FAKETIME_CACHE_DURATION=1"
                if node.skew
                else ""
            )
            + "\n"
        )
        env = dict(os.environ)
        Path("/run/sshd").mkdir(exist_ok=True)
        # nsenter rather than `ip netns exec`: the latter remounts /sys, and a dockerd
        # started from such a session fails ("Devices cgroup isn't mounted")
        node.sshd = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{node.netns}",
                "unshare",
                "--uts",
                "sh",
                "-c",
                f"hostname {node.name} && exec /usr/sbin/sshd -D -e -f {config}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / f"sshd-{node.short}.log").open("ab"),
            start_new_session=True,
        )
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
        """The node's clock `skew` off (e.g. "+0.5" seconds), as everything started on it
        from now on sees it: ssh sessions (its sshd restarts) and containers. The offset is
        read from the node's clock file, so stepping the clock there (as the simulated
        chrony does) reaches running processes too."""
        self.stop_sshd(node)
        node.skew = skew
        self.skew_file(node).write_text(f"{skew}\n" if skew else "")
        self.start_sshd(node)

    def docker(
        self, node: Node, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`docker` against the node's own daemon."""
        return subprocess.run(
            ["docker", "-H", node.docker_host, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def docker_running(self, node: Node) -> bool:
        return self.docker(node, "info", check=False).returncode == 0

    def stop_docker(self, node: Node) -> None:
        """Stop the node's Docker daemon (its containers with it) and remove its data."""
        run = RUN_ROOT / node.short
        pidfile = run / "dockerd.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                pid = int(pidfile.read_text().strip())
                if self.docker_running(node):
                    self.docker(node, "swarm", "leave", "--force", check=False)
                    ids = self.docker(node, "ps", "-aq", check=False).stdout.split()
                    if ids:
                        self.docker(node, "rm", "-f", *ids, check=False)
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                    time.sleep(0.2)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        # whatever is left in the node's containers' cgroups
        for procs in Path(f"/sys/fs/cgroup/pids/fridasim-{node.short}").glob("**/cgroup.procs"):
            for pid_text in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_text), signal.SIGKILL)
        data = self.workdir / f"docker-{node.short}"
        for root in (data, run):
            mounts = [
                line.split()[4]
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(str(root))
            ]
            for mount in sorted(mounts, key=len, reverse=True):
                _run("umount", "-l", mount, check=False)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)

    def ssh(self, node: Node, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", *self.ssh_options(), node.name, command],
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def delay(self, node: Node, delay_ms: float) -> None:
        """Hold every frame to and from the node for `delay_ms` (a round trip gains twice
        that). This kernel may lack netem, so a forwarder does it in user space (see
        link_delay.py). Offloads are turned off on the link: frames the forwarder copies
        must be whole (within the MTU the bridge forwards, checksums filled in)."""
        self.heal(node)
        for where in ([], ["ip", "netns", "exec", node.netns]):
            device = "eth0" if where else node.veth
            _run(
                *where,
                "ethtool",
                "-K",
                device,
                "tx",
                "off",
                "tso",
                "off",
                "gso",
                "off",
                "gro",
                "off",
            )
        tap = f"{self.tag}t{node.short.rsplit('-', 1)[-1]}"
        node.delayer = subprocess.Popen(
            [sys.executable, str(LINK_DELAY), node.veth, self.bridge, tap, str(delay_ms)],
            stdout=subprocess.PIPE,
            stderr=(self.workdir / f"delay-{node.short}.log").open("ab"),
            text=True,
            start_new_session=True,
        )
        assert node.delayer.stdout is not None
        if node.delayer.stdout.readline().strip() != "ready":
            raise RuntimeError(
                f"the delayed link of {node.name} did not start: see"
                f" {self.workdir / f'delay-{node.short}.log'}"
            )

    def heal(self, node: Node) -> None:
        """The node's link without delay again."""
        if node.delayer is not None:
            node.delayer.terminate()
            node.delayer.wait(10)
            node.delayer = None

    def cut(self, node: Node) -> None:
        """The node drops off the network (a lost node)."""
        _run("ip", "link", "set", node.veth, "down")

    def stop(self) -> None:
        try:
            self._stop_nodes()
        finally:  # the login, its sudo and its ACL go whatever failed before
            self._remove_user()
            # the stand-in goes, and the directories with it where nothing else is in them
            (G5K_CODE_BIN / "g5k-setup-docker").unlink(missing_ok=True)
            for directory in (G5K_CODE_BIN, *G5K_CODE_BIN.parents[:2]):
                with contextlib.suppress(OSError):
                    directory.rmdir()

    def _stop_nodes(self) -> None:
        # the daemons stop together: each takes seconds to wind down its swarm and networks
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            list(pool.map(self.stop_docker, self.nodes))
        for node in self.nodes:
            self.heal(node)
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
                _run(
                    "iptables",
                    "-D",
                    "FORWARD",
                    "-i",
                    self.bridge,
                    "-o",
                    self.bridge,
                    "-j",
                    "ACCEPT",
                    check=False,
                )
            _run("ip", "link", "del", self.bridge, check=False)
        self._strip_hosts()
        self.nodes.clear()
