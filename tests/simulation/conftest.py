"""The simulated Grid'5000 site: real network-namespace nodes with sshd and a Docker daemon
each, fake OAR commands on PATH printing what OAR prints, and a fake reference API on
127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.image_builds import ensure_images

from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.docker_cli import DockerCli
from simulation.fake_api import FakeReferenceApi, Grid5000, reference_data
from simulation.testbed import Testbed

HERE = Path(__file__).parent


def _can_simulate() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed (openssh-server)"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed (docker.io): the nodes run Docker daemons"
    if shutil.which("sudo") is None:
        return "sudo is not installed: the nodes' sudo-g5k is sudo for their ordinary login"
    if shutil.which("setfacl") is None:
        return "setfacl is not installed (acl): the nodes' login traverses /root by an ACL"
    return None


def _require(reason: str) -> None:
    if os.environ.get("FRIDA_REQUIRE_SIMULATION") == "1":
        pytest.fail(f"FRIDA_REQUIRE_SIMULATION=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def testbed() -> Iterator[Testbed]:
    reason = _can_simulate()
    if reason:
        _require(reason)
    # outside pytest's temporary directories, which only root may enter: the nodes' login
    # is an ordinary account (simulation.testbed)
    workdir = Path(tempfile.mkdtemp(prefix="fridasim-"))
    # four nodes: runs reserve three, a growing run gets the fourth
    bed = Testbed(workdir, count=4)
    try:
        yield bed.start()
    finally:
        bed.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def node_images() -> dict[str, str]:
    """The images the nodes get (from this machine's daemon, as a frontend with Docker)."""
    try:
        docker = DockerCli()
        docker.ping()
    except FridaSetupError as exc:
        _require(str(exc))
    return ensure_images(docker)


@pytest.fixture
def grid5000(
    testbed: Testbed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Grid5000]:
    """Fake OAR on PATH and the fake API: what a run needs to believe it is on a frontend."""
    bin_dir = tmp_path / "oar-bin"
    bin_dir.mkdir()
    for tool in ("oarsub", "oarstat", "oardel", "oarprint"):
        (bin_dir / tool).symlink_to(HERE / "fake_oar.py")
    state = tmp_path / "oar-state.json"
    state.write_text(
        json.dumps(
            {
                "nodes": [n.name for n in testbed.nodes],
                "cluster": "uvb",
                "cores_per_node": 2,
                "start_after_s": 1.0,
            }
        )
    )
    api = FakeReferenceApi(reference_data("sophia", "uvb", [n.name for n in testbed.nodes]))
    api.start()
    home = tmp_path / "home"
    home.mkdir()
    from pytest_frida.kafka.distribution import cache_dir

    monkeypatch.setenv("FRIDA_CACHE_DIR", str(cache_dir()))  # before HOME moves
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FRIDA_FAKE_OAR_STATE", str(state))
    monkeypatch.setenv("HOME", str(home))  # execo's API cache stays with this test
    try:
        yield {
            "state": state,
            "api": api,
            "log": state.with_suffix(".log"),
            "args": [
                f"--frida-g5k-api={api.url}",
                f"--frida-ssh-config={testbed.ssh_config}",
                "--frida-oar-poll=0.5",
                "--frida-cluster=uvb",
            ],
        }
    finally:
        api.stop()
