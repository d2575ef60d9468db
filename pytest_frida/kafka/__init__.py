"""The broker: finding a Kafka distribution, writing its config, running it."""
