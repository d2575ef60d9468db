"""The Kafka and agent images the docker, swarm and simulated multi-node tests run.

Built here when missing or stale (`frida images build`, never pulled), once per session.
"""

from __future__ import annotations

from pytest_frida.runtimes.docker_cli import DockerCli


def ensure_images(docker: DockerCli) -> dict[str, str]:
    """{"kafka": image, "agent": image, "monitoring": image}, current with this checkout."""
    from pytest_frida.images.build import ImageBuilder
    from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION, resolve

    builder = ImageBuilder(docker, progress=lambda line: None)
    return {
        "kafka": builder.kafka(resolve(DEFAULT_KAFKA_VERSION)),
        "agent": builder.agent(),
        "monitoring": builder.monitoring(),
    }
