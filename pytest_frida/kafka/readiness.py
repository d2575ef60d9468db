"""Deciding a cluster is ready: every broker is in the metadata a client gets back."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from pytest_frida.kafka.errors import KafkaSetupError


def _accepting(bootstrap: str) -> bool:
    """True when the first bootstrap address accepts TCP connections (cheap pre-check, so a
    client is not built, and left waiting, against a port nobody listens on yet)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def describe_brokers(bootstrap: str, timeout_s: float = 5.0) -> list[int]:
    """Broker ids from a metadata request, or [] while the cluster does not answer."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    limits = {"request_timeout_ms": int(timeout_s * 1000)}
    if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG:  # kafka-python 3
        # bounded too: a port that accepts but never answers (a broker still binding, or
        # something else on it) would otherwise hold the caller for 30 s
        limits["bootstrap_timeout_ms"] = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="frida-readiness", **limits)
    except (KafkaError, OSError, ValueError):
        return []
    try:
        cluster = admin.describe_cluster()
        brokers = cluster.get("brokers", [])
        return sorted(int(b.get("node_id", b.get("broker_id", -1))) for b in brokers)
    except (KafkaError, OSError, ValueError):
        return []
    finally:
        admin.close()


def wait_until_ready(
    bootstrap: str,
    expected_brokers: int,
    timeout_s: float,
    still_alive: Callable[[], str | None],
) -> float:
    """Block until `expected_brokers` answer; returns seconds waited.

    `still_alive` returns None while the servers run, or a description of the one that died
    (with its log tail), which ends the wait at once instead of after the timeout.
    """
    started = time.monotonic()
    while True:
        dead = still_alive()
        if dead:
            raise KafkaSetupError(f"a Kafka server exited while starting: {dead}")
        if _accepting(bootstrap) and len(describe_brokers(bootstrap)) >= expected_brokers:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise KafkaSetupError(
                f"Kafka at {bootstrap} did not report {expected_brokers} broker(s) within"
                f" {timeout_s:.0f}s; see the broker logs in the report directory"
            )
        time.sleep(0.25)


#: a just-restarted broker may need this long to answer metadata requests again
HEALTH_GRACE_S = 20.0


def cluster_problem(
    bootstrap: str,
    wanted: int,
    first_dead: Callable[[], str | None],
    grace_s: float = HEALTH_GRACE_S,
) -> str | None:
    """None while `wanted` brokers answer (within a grace period), else what is wrong: the
    first dead server (from `first_dead`) or how many answer."""
    dead = first_dead()
    if dead:
        return dead
    deadline = time.monotonic() + grace_s
    while (answering := len(describe_brokers(bootstrap, timeout_s=5.0))) < wanted:
        if time.monotonic() > deadline:
            return f"{answering} of {wanted} brokers answer a metadata request"
        time.sleep(0.5)
    return None
