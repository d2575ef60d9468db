"""How many consumer agents a step runs, and which partitions each one reads.

Consumers are sharded over processes by partition: each agent reads a disjoint set of the
topic's partitions, so together they read every message once, and one slow Python loop
never has to carry the whole step.
"""

from __future__ import annotations

import math

#: messages per second one consumer agent is assumed to keep up with, for `auto`.
#: Measured on an otherwise idle core, reading a backlog with the agent's own accounting
#: (decode, sequence bitmap, histogram): confluent-kafka ~170k msg/s (about 6 us a
#: message, librdkafka's threads included), kafka-python ~37k msg/s (27 us: it decodes
#: records in Python). A step shares its host with the broker and the producers: on a
#: 2-core machine at full load a consumer gets perhaps a quarter of a core, ~9k msg/s for
#: kafka-python; and a consumer near 100% busy already adds queueing delay to every
#: latency. So 10k msg/s per agent, whatever the client: an agent more than needed costs
#: one process, one too few makes the consumer the bottleneck.
CONSUMER_CAPACITY_MSG_S = 10_000.0


def consumer_count(plan_consumers: int | None, target_rate: float, partitions: int) -> int:
    """Consumer agents for a step: the plan's count, or (None: `auto`) enough for
    `target_rate` msg/s at CONSUMER_CAPACITY_MSG_S each, never more than the partitions."""
    if partitions < 1:
        raise ValueError(f"a topic needs at least one partition, got {partitions}")
    if plan_consumers is not None:
        if not 1 <= plan_consumers <= partitions:
            raise ValueError(
                f"consumers={plan_consumers}: expected 1 to {partitions} (one"
                " partition at least per consumer)"
            )
        return plan_consumers
    if math.isnan(target_rate) or target_rate <= 0:
        return 1
    if math.isinf(target_rate):
        return partitions
    return max(1, min(partitions, math.ceil(target_rate / CONSUMER_CAPACITY_MSG_S)))


def consumer_partitions(consumers: int, partitions: int) -> list[list[int]]:
    """The partitions of each of `consumers` agents: round robin, so the shares are
    disjoint, cover 0..partitions-1, and differ in size by one at most."""
    if not 1 <= consumers <= partitions:
        raise ValueError(
            f"{consumers} consumers for {partitions} partitions: expected 1 to {partitions}"
        )
    return [list(range(i, partitions, consumers)) for i in range(consumers)]
