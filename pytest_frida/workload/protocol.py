"""The agent protocol: JSON lines between the controller and an agent, every message typed.

An agent is `python -m pytest_frida.workload.agent` (a child process, over ssh, or `docker
exec -i` in a replica); whoever starts it writes to its stdin and reads its stdout, one
JSON object a line. Anything an agent logs goes to stderr, never stdout. Both sides use
these types, where a message is written and where it is read, so a misspelt key fails
mypy; the bytes on the wire are plain JSON objects with exactly these keys.

Down (controller to agent, on stdin):

1. the agent's config, first line: `ProducerConfig`, `ConsumerConfig` or `ClockConfig`,
   told apart by `role`;
2. `StartCommand` ({"cmd": "start"}): the instant `t0_ns` its warm-up begins, on every
   agent's clock alike; a consumer gets the clock `corrections` of the producers' hosts;
3. `DrainCommand` ({"cmd": "drain"}), consumers only, once every producer reported: what
   each producer sent and which of those had no ack, and when to stop waiting for them;
4. `Ping` ({"id": n}), clock agents only: answered at once with a `PongEvent`.

Closing stdin means the controller is done with the agent.

Up (agent to controller, on stdout), each with "event" first:

- `ReadyEvent`: the clients are open (producer, consumer) or the agent listens (clock);
  the controller waits for every agent's before it sends a start.
- `ProgressEvent`: about once a second while loading: the counts so far, for the live
  line and for what a step that broke off had reached.
- `ProducerResult` / `ConsumerResult`: once, at the end: everything the agent measured.
  The producer's comes when its acks are in (or no longer waited for); the consumer's
  when its drain ends. The controller adds `agent` (and `agent_host`) as it receives one.
- `PongEvent`: a clock agent's time, in answer to a `Ping`.
- `ErrorEvent`: the agent failed; it exits after.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TextIO, TypedDict, cast

# -- down: configs --------------------------------------------------------------------


class _LoadConfig(TypedDict):
    bootstrap: str
    topic: str
    #: a name of `workload.drivers.CLIENTS`
    client: str
    #: seconds of unmeasured load from the start, then seconds measured
    warmup: float
    duration: float


class MarketWire(TypedDict):
    """A step's market-data workload (`workload.arrivals.MarketSpec`): instruments (None:
    one per producer, round-robin partitions), Zipf exponent (0: uniform), arrival
    process (its text form) and the seed of its randomness."""

    instruments: int | None
    popularity: float
    arrivals: str
    seed: int


class ProducerConfig(_LoadConfig):
    """A producer agent runs producer ids first_producer .. first_producer+producer_count-1
    of `total_producers`, each at `rate` messages a second (0: as fast as it can)."""

    role: Literal["producer"]
    first_producer: int
    producer_count: int
    total_producers: int
    rate: float
    message_size: int
    #: client settings (--frida-producer-config)
    producer_settings: dict[str, Any]
    #: the topic's partition count
    partitions: int
    #: seconds it waits for outstanding acks after its last send
    flush_timeout: NotRequired[float]
    #: absent: the default workload (even arrivals, one stream per producer)
    market: NotRequired[MarketWire]


class ConsumerConfig(_LoadConfig):
    """A consumer agent reads `partitions` of the topic's `total_partitions`."""

    role: Literal["consumer"]
    partitions: list[int]
    total_partitions: int
    consumer_index: int
    consumers: int
    #: a drain step: read nothing until the `DrainCommand`, so the producers fill a
    #: backlog first; its effort is then measured over the drain, not the window
    hold: NotRequired[bool]
    #: a market workload with instruments: the lanes of each producer's messages follow
    #: from it and the step's producer count
    market: NotRequired[MarketWire]
    total_producers: NotRequired[int]


class ClockConfig(TypedDict):
    """A clock agent on `host`, answering pings."""

    role: Literal["clock"]
    host: str


AgentConfig = ProducerConfig | ConsumerConfig | ClockConfig

# -- down: commands -------------------------------------------------------------------


class StartCommand(TypedDict):
    cmd: Literal["start"]
    t0_ns: int
    #: consumers: [first producer id, count, ns to add to their send stamps] rows
    corrections: NotRequired[list[list[int]]]


class ExpectedSends(TypedDict):
    """What one producer sent (sequence numbers 0..sent-1) and which had no ack."""

    sent: int
    not_acked: list[int]


class DrainCommand(TypedDict):
    cmd: Literal["drain"]
    #: per producer id (a string on the wire)
    expected: Mapping[Any, ExpectedSends]
    #: stop when nothing new arrived for this long (s) ...
    stall_timeout: float
    #: ... or after this long (s) in all
    cap: float
    #: an older name of `cap`
    timeout: NotRequired[float]


class Ping(TypedDict):
    id: int


Command = StartCommand | DrainCommand
Message = AgentConfig | Command | Ping

# -- up: events -----------------------------------------------------------------------


class ReadyEvent(TypedDict):
    event: Literal["ready"]
    #: producer agents: how many producers, and its memory once they are open
    producers: NotRequired[int]
    rss_mib: NotRequired[float]
    #: consumer agents: the partitions it reads
    partitions: NotRequired[list[int]]


class ProgressEvent(TypedDict):
    event: Literal["progress"]
    #: producer agents
    sent: NotRequired[int]
    acked: NotRequired[int]
    #: consumer agents (p99 of the measured window so far; the latest lag sample)
    received: NotRequired[int]
    p99_ms: NotRequired[float | None]
    lag: NotRequired[int | None]


class ProducerCounts(TypedDict):
    """One producer's messages: how many sent; which failed and which had no answer."""

    sent: int
    failed: list[int]
    unacked: list[int]


class ProducerResult(TypedDict):
    """What a producer agent measured (histograms are `LatencyHistogram.encode()` text)."""

    event: Literal["result"]
    #: per producer id (a string)
    producers: dict[str, ProducerCounts]
    #: when it stopped waiting for acks (wall ns)
    gave_up_ns: int
    delivery_timeout_s: float
    #: it stopped waiting before the client's delivery timeout, with acks outstanding
    gave_up_early: bool
    intended_in_window: int
    sends_in_window: int
    acks_in_window: int
    publish_delay: str
    #: scheduled messages never sent, and how late they were when it gave up
    unsent: int
    unsent_delay: str
    publish_latency: str
    publish_latency_error_ms: float
    final_publish_delay_ms: float
    cpu_share: float
    scheduler_busy: float
    queue_wait_s: float
    queue_full: int
    rss_mib: float
    errors: int
    #: messages per partition (a string)
    partition_sent: dict[str, int]
    #: added by the controller on receipt
    agent: NotRequired[str]
    agent_host: NotRequired[str]


class ConsumerBooks(TypedDict):
    """A consumer's accounting: latencies, sequence trackers, the per-second timeline."""

    e2e: str
    e2e_from_send: str
    received_in_window: int
    #: per producer id (a string): `SequenceTracker.to_dict()`
    trackers: dict[str, dict[str, Any]]
    #: [second, messages, worst us, sum us] rows
    timeline: list[list[int]]


class ConsumerResult(ConsumerBooks):
    """What a consumer agent measured: its books, its drain, its effort and its lag."""

    event: Literal["result"]
    drained: bool
    #: complete, stalled or cap
    drain_stop: str
    drain_s: float
    drain_missing: int
    busy: float
    loop_busy: float
    cpu_wait: float
    throttled: float
    cpu_share: float
    lag_max: int
    lag_end: int
    lag_samples: int
    #: absent from agents older than the flag, read as True (controller.verdicts)
    lag_end_sampled: NotRequired[bool]
    lag_failed: int
    #: the largest lag in time (ms) over the window and at its end (consumer_lag), None
    #: without a sample; absent from agents older than it (read as not measured)
    lag_time_max_ms: NotRequired[float | None]
    #: a held consumer (a drain step): messages read in its drain, seconds from the drain
    #: command to the last of them, and its lag samples since the start as
    #: [seconds since t0, messages, time lag ms or None] rows
    drain_read: NotRequired[int]
    drain_active_s: NotRequired[float]
    lag_series: NotRequired[list[list[float | None]]]
    partitions: list[int]
    #: messages per partition (a string)
    partition_received: dict[str, int]
    host: str
    consumer_index: int
    #: added by the controller on receipt
    agent: NotRequired[str]


class PongEvent(TypedDict):
    event: Literal["pong"]
    #: the ping's id
    id: int | None
    #: the clock agent's wall clock when it answered
    t_ns: int


class ErrorEvent(TypedDict):
    event: Literal["error"]
    #: "ExceptionType: text"
    message: str


Event = ReadyEvent | ProgressEvent | ProducerResult | ConsumerResult | PongEvent | ErrorEvent

# -- the wire -------------------------------------------------------------------------


def emit(event: Event, out: TextIO | None = None) -> None:
    """Send one event up (an agent's stdout unless `out`)."""
    stream = out or sys.stdout
    stream.write(json.dumps(event, separators=(",", ":")) + "\n")
    stream.flush()


def encode(message: Message) -> str:
    """One message down, as its line."""
    return json.dumps(message) + "\n"


def read_message(stream: TextIO | None = None) -> dict[str, Any]:
    """The next line down (an agent's stdin unless `stream`), as a JSON object."""
    line = (stream or sys.stdin).readline()
    if not line:
        raise EOFError("controller closed the agent's stdin")
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {line[:80]!r}")
    return message


# JSON carries no types: these name what a line that came in is, at the one place it
# enters typed code.


def read_config() -> AgentConfig:
    return cast(AgentConfig, read_message())


def read_start() -> StartCommand:
    return cast(StartCommand, read_message())


def read_command() -> Command:
    return cast(Command, read_message())


def read_ping() -> Ping:
    return cast(Ping, read_message())


def producer_result(event: dict[str, Any]) -> ProducerResult:
    return cast(ProducerResult, event)


def consumer_result(event: dict[str, Any]) -> ConsumerResult:
    return cast(ConsumerResult, event)


def pong(event: dict[str, Any]) -> PongEvent:
    return cast(PongEvent, event)


def progress(event: dict[str, Any]) -> ProgressEvent:
    return cast(ProgressEvent, event)
