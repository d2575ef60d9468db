"""Whether the images a swarm run needs are on a daemon, and current.

pytest-frida never pulls: an image is on the daemon because `frida images build` (or
`images.transfer`) put it there, and its labels say what it was built from.
"""

from __future__ import annotations

from pytest_frida.images import AGENT_IMAGE, EXPORTER_LABEL, RECIPE_LABEL, kafka_image
from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError


def check_agent_image(docker: DockerCli, image: str = AGENT_IMAGE) -> str:
    """The agent image must exist, and match this source tree when run from one."""
    label = docker.image_label(image, RECIPE_LABEL)
    if label is None:
        raise DockerError(
            f"image {image} is not on {docker.where} (pytest-frida never"
            " pulls): run `frida images build`"
        )
    try:
        from pytest_frida.images.build import ImageBuildError, agent_recipe

        current = agent_recipe()
    except ImageBuildError:
        return label  # an installed package: nothing to compare with
    if label != current:
        raise DockerError(
            f"image {image} on {docker.where} was built from other sources"
            f" than this checkout (recipe {label or 'unlabelled'}, now"
            f" {current}): run `frida images build` so the replicas run this"
            " code"
        )
    return label


def no_exporter(docker: DockerCli, image: str) -> str | None:
    """Why `image` cannot serve Kafka's figures to a swarm run (None: it carries the JMX
    exporter). An image without the label answers "", one built without the agent
    "none"."""
    if docker.image_label(image, EXPORTER_LABEL) in (None, "", "none"):
        return (
            f"{image} carries no JMX exporter (`frida images build` makes a frida/kafka that does)"
        )
    return None


def choose_kafka_image(docker: DockerCli, explicit: str | None, version: str) -> str:
    """The image to run: the one asked for, else apache/kafka:<version>, else our own build.

    Never pulls: tests and testbeds without a registry must fail fast and say what to do.
    """
    candidates = [explicit] if explicit else [f"apache/kafka:{version}", kafka_image(version)]
    for image in candidates:
        if docker.inspect("image", [image]):
            return image
    if explicit:
        raise KafkaSetupError(
            f"image {explicit} is not on {docker.where} (pytest-frida never"
            " pulls): docker load it, or run `frida images build` and pass"
            f" --frida-kafka-image={kafka_image(version)}"
        )
    raise KafkaSetupError(
        f"neither apache/kafka:{version} nor {kafka_image(version)} is on"
        f" {docker.where} (pytest-frida never pulls): run `frida images"
        " build`, or docker load apache/kafka"
    )
