"""Errors about the broker's prerequisites, each saying what to do about it."""


class KafkaSetupError(RuntimeError):
    """Java, Maven or a Kafka distribution is missing or unusable."""
