"""Images without a registry: built here, copied to another daemon by save | load."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_frida.cli import main as frida
from pytest_frida.runtimes.docker_cli import DockerCli


@pytest.fixture
def second_daemon() -> Iterator[str]:
    """Another dockerd on this machine, in its own network namespace (a dockerd started with
    --bridge=none deletes the docker0 of its namespace), with its own socket and storage:
    a node to push to."""
    root = Path(tempfile.mkdtemp(prefix="frida-d2-", dir="/tmp"))  # short: socket paths
    netns = root.name
    sock = f"unix://{root}/d.sock"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    proc = subprocess.Popen(
        [
            "nsenter",
            f"--net=/var/run/netns/{netns}",
            "dockerd",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "-H",
            sock,
            "--pidfile",
            str(root / "d.pid"),
            "--bridge=none",
            "--iptables=false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                ["docker", "-H", sock, "version"], capture_output=True, check=False
            ).returncode
            != 0
        ):
            assert proc.poll() is None, (root / "log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second dockerd did not answer in 60s"
            time.sleep(0.5)
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        subprocess.run(["ip", "netns", "delete", netns], check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_build_is_skipped_when_up_to_date(
    frida_images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert frida(["images", "build", "--only", "kafka,agent"]) == 0
    out = capsys.readouterr().out
    assert f"{frida_images['kafka']}: up to date" in out
    assert f"{frida_images['agent']}: up to date" in out


def test_push_to_copies_images_to_a_daemon_without_them(
    frida_images: dict[str, str],
    docker: DockerCli,
    second_daemon: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    remote = DockerCli(second_daemon)
    assert remote.inspect("image", [frida_images["agent"]]) == []
    assert frida(["images", "push-to", second_daemon]) == 0
    assert "loading" in capsys.readouterr().out
    for image in (frida_images["kafka"], frida_images["agent"]):  # what a run needs
        local_id = docker.inspect("image", [image])[0]["Id"]
        assert remote.inspect("image", [image])[0]["Id"] == local_id
    assert frida(["images", "push-to", second_daemon]) == 0  # the second time: nothing to do
    assert "images up to date" in capsys.readouterr().out


def test_push_to_bad_host_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert frida(["images", "push-to", "two words"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "frida images: host 'two words' is not a host name or a docker -H"
        " address (ssh://user@node, tcp://..., unix:///...)"
    )
