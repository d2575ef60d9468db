"""Fixtures for tests against a real Docker daemon, real images and a real one-node swarm.

The images are built here when missing or stale (`frida images build`; never pulled).
Without a Docker daemon the tests are skipped, unless FRIDA_REQUIRE_DOCKER=1 (CI sets it),
where a missing daemon is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from helpers.image_builds import ensure_images

from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.docker_cli import DockerCli


def _docker_or_skip() -> DockerCli:
    try:
        docker = DockerCli()
        docker.ping()
    except FridaSetupError as exc:
        if os.environ.get("FRIDA_REQUIRE_DOCKER") == "1":
            pytest.fail(f"FRIDA_REQUIRE_DOCKER=1 but {exc}")
        pytest.skip(str(exc))
    return docker


@pytest.fixture(scope="session")
def docker() -> DockerCli:
    return _docker_or_skip()


@pytest.fixture(scope="session")
def frida_images(docker: DockerCli) -> dict[str, str]:
    """The Kafka, agent and monitoring images, built if missing or stale."""
    return ensure_images(docker)


def docker_state(docker: DockerCli) -> dict[str, object]:
    """What a run could leave behind: labelled containers, networks, services, stacks,
    and whether this daemon is in a swarm."""
    swarm = docker.run("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    state: dict[str, object] = {
        "containers": set(docker.lines("ps", "-aq", "--filter", "label=frida.run")),
        "networks": set(docker.lines("network", "ls", "-q", "--filter", "label=frida.run")),
        "swarm": swarm,
    }
    if swarm == "active":
        state["services"] = set(docker.lines("service", "ls", "-q"))
        state["stacks"] = set(docker.lines("stack", "ls", "--format", "{{.Name}}"))
    return state


@pytest.fixture
def docker_leak_check(docker: DockerCli) -> Iterator[None]:
    """Fails the test when it leaves containers, networks, services, stacks or swarm state."""
    before = docker_state(docker)
    yield
    after = docker_state(docker)
    assert after == before, f"Docker state changed: before {before}, after {after}"
