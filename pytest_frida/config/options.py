"""Every option: its flag, ini key, default and help, in the order `pytest --help` shows them."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION
from pytest_frida.workload.drivers import CLIENTS

KNOWN_SITES = ("local", "docker", "swarm")


#: how a multi-node site (hosts, Grid'5000) runs things on its nodes
RUNTIMES = ("swarm", "ssh")


#: how such a site synchronises its nodes' clocks before the run
CLOCK_SYNC = ("off", "chrony", "ptpd")


DEFAULT_SLO = "p99<=250ms, loss==0, unacked==0, failed==0"


#: the longest priming run: a broker is warm well before this
MAX_PRIME_S = 300.0


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, ini key, default and help."""

    name: str
    help: str
    default: str
    #: the value of a bare `--frida-NAME` given without `=VALUE` (None: a value is required)
    const: str | None = None


#: Every setting, in the order `pytest --help` shows them. Each is also an ini key frida_<name>.
OPTIONS: tuple[Option, ...] = (
    Option(
        "site",
        "where brokers run: " + ", ".join(KNOWN_SITES) + ", hosts:FILE (machines"
        " you have, over SSH) or a Grid'5000 site name such as sophia",
        "local",
    ),
    Option("producers", "producer counts to run, overriding markers, e.g. 1,10,100", ""),
    Option("rate", "messages per second per producer", "10"),
    Option("duration", "measured seconds per step", "10"),
    Option("warmup", "seconds per step sent before measuring starts", "2"),
    Option(
        "prime",
        "seconds of unmeasured load, at the first step's load, before a"
        " cluster's first measured step (a broker just started runs cold); 0: none, and"
        " the first step says it ran unprimed",
        "5",
    ),
    Option(
        "max-duration",
        "most measured seconds a step is lengthened to when its planned"
        " window holds fewer messages than its SLO's percentiles need (p99: 1,000;"
        " p99.9: 10,000)",
        "60",
    ),
    Option("message-size", "bytes per message value (>= 64)", "256"),
    Option("slo", "SLO asserted per step, overriding markers, e.g. 'p99<=250ms, loss==0'", ""),
    Option("report-dir", "where run reports are written", ".frida/reports"),
    Option("kafka-version", "Apache Kafka release to run", DEFAULT_KAFKA_VERSION),
    Option("kafka-home", "an unpacked Apache Kafka to use instead of resolving jars", ""),
    Option("brokers", "number of Kafka brokers (combined broker+controller nodes)", "1"),
    Option(
        "broker-config",
        "extra server.properties for every broker, e.g."
        " 'num.io.threads=2,log.flush.interval.messages=1'",
        "",
    ),
    Option("partitions", "partitions of each step's topic", "3"),
    Option("client", "producer/consumer client library: " + ", ".join(CLIENTS), "confluent-kafka"),
    Option(
        "producer-config",
        "producer settings by Kafka property name, passed to the"
        " client, e.g. 'acks=1,linger.ms=5,compression.type=lz4'",
        "",
    ),
    Option("workers", "producer agent processes per host (default: one per core)", "auto"),
    Option(
        "consumers",
        "consumer agent processes per step, each reading its share of the"
        " topic's partitions: auto (enough for the step's target rate) or a count, at"
        " most the partitions",
        "auto",
    ),
    Option(
        "search",
        "find each capacity test's limit instead of a fixed sweep: LOW:HIGH"
        "[:TOLERANCE], e.g. 1:2000:10%",
        "",
    ),
    Option(
        "compare",
        "compare with the previous run of each test (or with run id RUN)",
        "",
        const="last",
    ),
    Option(
        "compare-fail",
        "fail the session on regressions past thresholds, e.g."
        " capacity:10%,p99:20% (compares with the previous run unless --frida-compare"
        " names one)",
        "",
    ),
    Option(
        "kafka-image",
        "Kafka image for the docker and swarm sites (apache/kafka's env"
        " contract); default apache/kafka:<kafka-version> if present, else the"
        " frida/kafka:<kafka-version> that `frida images build` makes",
        "",
    ),
    Option(
        "producers-per-replica", "swarm site: logical producers per producer service replica", "10"
    ),
    Option(
        "nodes",
        "Grid'5000: nodes to reserve, a count (brokers, then producer nodes; the"
        " consumer runs on the first broker node; default brokers + 2) or per role,"
        " e.g. brokers=1,consumer=1,producers=2 (consumer=1: a node of its own)",
        "",
    ),
    Option("cluster", "Grid'5000: the cluster to reserve on (default: any of the site)", ""),
    Option("walltime", "Grid'5000: reservation length, H:MM:SS or seconds", "1:00:00"),
    Option("queue", "Grid'5000: OAR queue (default, production, besteffort, ...)", ""),
    Option(
        "job-type",
        "Grid'5000: OAR job types, comma-separated, e.g. night,exotic (not"
        " deploy: nothing here runs kadeploy3)",
        "",
    ),
    Option(
        "reservation",
        "Grid'5000: advance reservation start, 'YYYY-MM-DD HH:MM[:SS]'"
        " (Paris time, whatever this machine's zone)",
        "",
    ),
    Option("job-name", "Grid'5000: OAR job name (default frida-<run id>)", ""),
    Option("job-id", "Grid'5000: use this running OAR job instead of reserving", ""),
    Option("keep", "Grid'5000: keep the job at the end instead of deleting it", "", const="yes"),
    Option(
        "job-start-timeout",
        "Grid'5000: seconds to wait for the job to start (past the"
        " reserved start, for an advance reservation) before deleting it",
        "3600",
    ),
    Option("oar-poll", "Grid'5000: seconds between OAR status polls", "20"),
    Option("g5k-api", "Grid'5000 reference API base URL (default: execo's)", ""),
    Option("ssh-config", "hosts and Grid'5000: an ssh_config file for reaching the nodes", ""),
    Option(
        "runtime",
        "hosts and Grid'5000: how Kafka and the agents run on the nodes: swarm"
        " (a Docker swarm formed on them, the stacks deployed) or ssh (processes over SSH)",
        "swarm",
    ),
    Option(
        "images",
        "hosts and Grid'5000 with the swarm runtime: a directory written by"
        " `frida images save DIR`, for controllers without a Docker daemon holding the"
        " images",
        "",
    ),
    Option(
        "producers-per-node",
        "hosts and Grid'5000 with the swarm runtime: most producers"
        " one node runs (a multiple of --frida-producers-per-replica); a step that needs"
        " more nodes adds them (Grid'5000: a further reservation)",
        "",
    ),
    Option(
        "clock-correction",
        "correct cross-host latencies by the measured clock offsets: on or off",
        "on",
    ),
    Option(
        "clock-sync",
        "hosts and Grid'5000: synchronise the nodes' clocks before they"
        " take part: off; chrony (a running ntpd is kept and read; else chrony installed"
        " and stepped through sudo-g5k on Grid'5000, sudo elsewhere); or ptpd (a PTP"
        " master on the first node, slaves on the others, for the whole run)",
        "off",
    ),
    Option(
        "plan",
        "print what the run would do (the site's reservation, the nodes, each"
        " test's steps and their load time) and stop: nothing is reserved or started",
        "",
        const="yes",
    ),
    Option(
        "monitor",
        "read each broker's CPU, memory, storage and Kafka metrics (through"
        " the Prometheus JMX exporter) and the host's CPU and disk once a second during"
        " each step, to say what saturated: on or off (hosts and Grid'5000 read their"
        " brokers' nodes over ssh)",
        "on",
    ),
    Option(
        "broker-cores",
        "local and docker: run the brokers on this many cores of their"
        " own (the machine's last ones) and the controller and its agents on the others,"
        " so the brokers' CPU has its own ceiling and cannot be taken by the harness; 0:"
        " everything shares the host's cores",
        "0",
    ),
    Option(
        "influx",
        "also send each step to InfluxDB (1.x write endpoint), e.g."
        " http://127.0.0.1:8086/write?db=frida",
        "",
    ),
)
