"""The step's topic: created before the agents start, deleted after they stop.

This is the only place the controller creates topics (the bench and the agent tests use it
too), with the replication factor `kafka.server_config.topic_replication` gives, or the one
a cluster shape sets, which a history entry's plan records.
"""

from __future__ import annotations

import time
from typing import Any

from pytest_frida.kafka.server_config import topic_replication

#: how long a new topic may take to have a leader for every partition
LEADERS_TIMEOUT_S = 30.0


def _admin(bootstrap: str) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="frida-controller", request_timeout_ms=30_000
    )


def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    brokers: int,
    replication: int | None = None,
    min_insync: int | None = None,
) -> None:
    """Create `topic` and wait until every partition has a leader: a producer that starts
    before then loses its first seconds to metadata retries, inside the measured window.
    A cluster shape (config.shapes) may set its replication and min.insync.replicas."""
    from kafka.admin import NewTopic

    configs = {"min.insync.replicas": str(min_insync)} if min_insync is not None else {}
    new = NewTopic(topic, partitions, replication or topic_replication(brokers), None, configs)
    admin = _admin(bootstrap)
    try:
        admin.create_topics([new], timeout_ms=30_000)
        deadline = time.monotonic() + LEADERS_TIMEOUT_S
        while time.monotonic() < deadline:
            meta = admin.describe_topics([topic])
            parts = meta[0].get("partitions", []) if meta else []
            if len(parts) == partitions and all(p.get("leader_id", -1) >= 0 for p in parts):
                return
            time.sleep(0.2)
        raise RuntimeError(f"topic {topic} got no leaders within {LEADERS_TIMEOUT_S:g}s")
    finally:
        admin.close()


def delete_topic(bootstrap: str, topic: str) -> None:
    """Delete `topic` if the cluster still answers; a failure leaves it to the cluster's
    teardown, which removes every topic with it."""
    try:
        admin = _admin(bootstrap)
    except Exception:
        return
    try:
        admin.delete_topics([topic], timeout_ms=10_000)
    except Exception:
        pass
    finally:
        admin.close()
