"""The agent image's entry point: a replica of the producer or consumer service.

FRIDA_MODE=standby (what pytest-frida deploys): the replica idles until SIGTERM; the
controller starts agents in it with `docker exec -i ... python -m pytest_frida.workload.agent`
and speaks the usual JSON lines with them.

FRIDA_MODE=run (a stack deployed by hand): the replica runs one step configured by
environment, prints a JSON summary line to stdout (`docker service logs`) and exits.
    FRIDA_ROLE producer|consumer   FRIDA_BOOTSTRAP kafka-1:9092    FRIDA_TOPIC frida
    FRIDA_PRODUCERS per replica    FRIDA_RATE msg/s per producer   FRIDA_DURATION s
    FRIDA_WARMUP s                 FRIDA_MESSAGE_SIZE bytes        FRIDA_CLIENT confluent-kafka
    FRIDA_SLOT the task slot (1..n), so producer ids of replicas never overlap
    FRIDA_PARTITIONS of the topic, created by whichever replica comes first
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.workload.drivers import CLIENTS
from pytest_frida.workload.event_pipe import AgentFailed, EventPipe, EventTimeout, PipeClosed
from pytest_frida.workload.protocol import (
    AgentConfig,
    ConsumerConfig,
    Message,
    ProducerConfig,
    consumer_result,
    encode,
    producer_result,
)

START_LEAD_S = 2.0
#: a run-mode consumer listens this long past the producers' warm-up and duration
COLLECT_S = 30.0


class ServiceConfigError(ValueError):
    """A FRIDA_* variable is missing or malformed."""


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if value is None or value == "":
        raise ServiceConfigError(f"{name} is not set")
    return value


def _number(env: Mapping[str, str], name: str, default: str, kind: type = float) -> Any:
    raw = _get(env, name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise ServiceConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value < 0:
        raise ServiceConfigError(f"{name}={raw!r} must not be negative")
    return value


def agent_config(env: Mapping[str, str]) -> ProducerConfig | ConsumerConfig:
    """The agent config a run-mode replica uses, from its environment."""
    role = _get(env, "FRIDA_ROLE")
    if role not in ("producer", "consumer"):
        raise ServiceConfigError(f"FRIDA_ROLE={role!r}: expected producer or consumer")
    client = _get(env, "FRIDA_CLIENT", "confluent-kafka")
    if client not in CLIENTS:
        raise ServiceConfigError(f"FRIDA_CLIENT={client!r}: expected one of {', '.join(CLIENTS)}")
    duration = _number(env, "FRIDA_DURATION", "60")
    warmup = _number(env, "FRIDA_WARMUP", "5")
    partitions = _number(env, "FRIDA_PARTITIONS", "3", int)
    if partitions < 1:
        raise ServiceConfigError("FRIDA_PARTITIONS must be at least 1")
    bootstrap = _get(env, "FRIDA_BOOTSTRAP", "kafka-1:9092")
    topic = _get(env, "FRIDA_TOPIC", "frida")
    if role == "producer":
        count = _number(env, "FRIDA_PRODUCERS", "1", int)
        slot = _number(env, "FRIDA_SLOT", "1", int)
        if count < 1 or slot < 1:
            raise ServiceConfigError("FRIDA_PRODUCERS and FRIDA_SLOT must be at least 1")
        return {
            "role": "producer",
            "bootstrap": bootstrap,
            "topic": topic,
            "client": client,
            "warmup": warmup,
            "duration": duration,
            "first_producer": (slot - 1) * count,
            "producer_count": count,
            "total_producers": slot * count,
            "rate": _number(env, "FRIDA_RATE", "10"),
            "message_size": _number(env, "FRIDA_MESSAGE_SIZE", "100", int),
            "producer_settings": {},
            "partitions": partitions,
        }
    return {  # one consumer replica reads every partition
        "role": "consumer",
        "bootstrap": bootstrap,
        "topic": topic,
        "client": client,
        "warmup": warmup,
        "duration": duration,
        "partitions": list(range(partitions)),
        "total_partitions": partitions,
        "consumer_index": 0,
        "consumers": 1,
    }


def ensure_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = 120.0) -> None:
    """Create the topic unless it exists, waiting for the broker to come up (replicas may
    start before Kafka does)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    while True:
        future = admin.create_topics([NewTopic(topic, partitions)])[topic]
        try:
            future.result(timeout=10)
            return
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot create topic {topic} at {bootstrap}: {exc}") from exc
        time.sleep(2)


class AgentChild:
    """An agent as this replica's child process, spoken to in the agents' JSON lines.

    The controller's agent handles (`runtimes.agents`) are not used here: the agent side
    imports nothing of the controller. A replica runs one agent once and exits, so this
    needs no process groups or log files: the agent's stderr is the replica's.
    """

    def __init__(self, config: AgentConfig) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "pytest_frida.workload.agent"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.popen.stdout is not None
        self._events = EventPipe(self.popen.stdout)
        self.send(config)

    def send(self, message: Message) -> None:
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(encode(message))
            self.popen.stdin.flush()
        except OSError as exc:
            raise RuntimeError(f"the agent is gone: {exc}") from exc

    def wait_for(self, event: str, timeout_s: float) -> dict[str, Any]:
        """The next event named `event`; RuntimeError when the agent fails, exits or
        stays silent past `timeout_s`."""
        try:
            return self._events.wait_for(event, timeout_s)
        except EventTimeout as exc:
            raise RuntimeError(f"the agent {exc}") from None
        except AgentFailed as exc:
            raise RuntimeError(f"the agent failed: {exc}") from None
        except PipeClosed:
            try:
                code: int | str = self.popen.wait(5)
            except subprocess.TimeoutExpired:  # its output closed, yet it lives on
                code = "none yet"
            raise RuntimeError(f"the agent exited (code {code}) before {event!r}") from None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def run_once(env: Mapping[str, str]) -> dict[str, Any]:
    """One step of this replica's role; the summary it prints."""
    config = agent_config(env)
    ensure_topic(config["bootstrap"], config["topic"], _number(env, "FRIDA_PARTITIONS", "3", int))
    if config["role"] == "consumer":
        # replicas start at different times: measure everything received, not a window
        config["duration"] = config["warmup"] + config["duration"] + COLLECT_S
        config["warmup"] = 0.0
    agent = AgentChild(config)
    budget = START_LEAD_S + config["warmup"] + config["duration"] + 120.0
    try:
        return _one_step(agent, config, budget)
    finally:
        agent.stop()


def _one_step(
    agent: AgentChild, config: ProducerConfig | ConsumerConfig, budget_s: float
) -> dict[str, Any]:
    agent.wait_for("ready", budget_s)
    agent.send({"cmd": "start", "t0_ns": time.time_ns() + int(START_LEAD_S * 1e9)})
    if config["role"] == "producer":
        res = producer_result(agent.wait_for("result", budget_s))
        producers = res["producers"].values()
        summary = {
            "role": "producer",
            "sent": sum(p["sent"] for p in producers),
            "failed": sum(len(p["failed"]) for p in producers),
            "unacked": sum(len(p["unacked"]) for p in producers),
            "acks_in_window": res["acks_in_window"],
            "achieved_rate": res["acks_in_window"] / max(config["duration"], 1e-9),
            "partition_sent": res["partition_sent"],
        }
    else:
        time.sleep(START_LEAD_S + config["duration"])
        # replicas deployed by hand share no acks: nothing to wait for
        agent.send({"cmd": "drain", "expected": {}, "stall_timeout": 1, "cap": 1})
        done = consumer_result(agent.wait_for("result", 60.0))
        e2e = LatencyHistogram.decode(done["e2e"]).summary_ms()
        summary = {
            "role": "consumer",
            "received": done["received_in_window"],
            "latency_ms": e2e,
            "note": "latency of every message received, warm-up"
            " included: replicas deployed by hand share no start time",
        }
    return summary


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    mode = env.get("FRIDA_MODE", "standby")
    if mode == "standby":
        print(f"frida agent replica on {os.uname().nodename}: standby", flush=True)
        stop.wait()
        return 0
    if mode != "run":
        print(f"FRIDA_MODE={mode!r}: expected standby or run", file=sys.stderr)
        return 2
    try:
        summary = run_once(env)
    except (ServiceConfigError, RuntimeError) as exc:
        print(f"frida agent replica: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
