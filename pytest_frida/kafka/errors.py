"""Errors about the broker's prerequisites, each saying what to do about it."""

from pytest_frida.errors import FridaSetupError


class KafkaSetupError(FridaSetupError):
    """Java, Maven or a Kafka distribution is missing or unusable."""
