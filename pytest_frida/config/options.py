"""Every option: its flag, ini key, default, help and parser, in the order `pytest --help`
shows them. The parser is the option's own; `build` only assembles the parsed values."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_frida.config.grid5000 import (
    parse_job_types,
    parse_nodes_option,
    parse_reservation_date,
    parse_walltime,
)
from pytest_frida.config.option_parsers import (
    KNOWN_SITES,
    alone,
    existing_file,
    images_dir,
    optional,
    parse_broker_cores,
    parse_compare,
    parse_home,
    parse_image_ref,
    parse_kafka_version,
    parse_on_off,
    parse_producers_per_node,
    parse_site,
    parse_target_option,
    parse_thresholds_option,
    parse_url,
    parse_workers,
    text_or_none,
)
from pytest_frida.config.shapes import parse_shapes
from pytest_frida.config.values import (
    Parser,
    _arrivals,
    _choice,
    _flag,
    _float,
    _instruments,
    _message_size,
    _non_negative_float,
    _popularity,
    _positive_float,
    _positive_int,
    _search,
    _seed,
    _slo,
    _writable_dir,
    parse_consumers,
    parse_producer_config,
    parse_producers,
    parse_yes_no,
)
from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION
from pytest_frida.workload.arrivals import DEFAULT_SEED
from pytest_frida.workload.drivers import CLIENTS

#: how a multi-node site (hosts, Grid'5000) runs things on its nodes
RUNTIMES = ("swarm", "ssh")


#: how such a site synchronises its nodes' clocks before the run
CLOCK_SYNC = ("off", "chrony", "ptpd")


DEFAULT_SLO = "p99<=250ms, loss==0, unacked==0, failed==0"


#: the longest priming run: a broker is warm well before this
MAX_PRIME_S = 300.0


def _prime(raw: str, what: str) -> float:
    return _float(raw, what, lambda v: 0 <= v <= MAX_PRIME_S, f"seconds from 0 to {MAX_PRIME_S:g}")


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, ini key, default, help and parser."""

    name: str
    help: str
    default: str
    #: the raw text (command line, else ini, else default) to the value settings hold
    parse: Parser
    #: the value of a bare `--frida-NAME` given without `=VALUE` (None: a value is required)
    const: str | None = None


#: Every setting, in the order `pytest --help` shows them. Each is also an ini key frida_<name>.
OPTIONS: tuple[Option, ...] = (
    Option(
        "site",
        "where brokers run: " + ", ".join(KNOWN_SITES) + ", hosts:FILE (machines"
        " you have, over SSH) or a Grid'5000 site name such as sophia",
        "local",
        parse=parse_site,
    ),
    Option(
        "producers",
        "producer counts to run, overriding markers, e.g. 1,10,100",
        "",
        parse=optional(parse_producers),
    ),
    Option("rate", "messages per second per producer", "10", parse=alone(_positive_float)),
    Option(
        "instruments",
        "market-data instruments over the producers (instrument j: producer j % producers,"
        " partition j % partitions, its own key); empty: one stream per producer",
        "",
        parse=alone(_instruments),
    ),
    Option(
        "popularity",
        "how the load splits over the instruments: uniform or zipf:<s> (instrument of rank"
        " r gets a share proportional to 1/r^s)",
        "uniform",
        parse=alone(_popularity),
    ),
    Option(
        "arrivals",
        "when each producer sends: even, poisson or burst:<k>x<s>s/<period>s (k times the"
        " base rate s seconds every period; --frida-rate stays the mean)",
        "even",
        parse=alone(_arrivals),
    ),
    Option(
        "seed",
        "the seed Poisson arrivals draw their gaps from (producer p from (seed, p)), a"
        " whole number >= 0; even and burst arrivals are fixed and do not use it",
        str(DEFAULT_SEED),
        parse=alone(_seed),
    ),
    Option("duration", "measured seconds per step", "10", parse=alone(_positive_float)),
    Option(
        "warmup",
        "seconds per step sent before measuring starts",
        "2",
        parse=alone(_non_negative_float),
    ),
    Option(
        "prime",
        "seconds of unmeasured load, at the first step's load, before a"
        " cluster's first measured step (a broker just started runs cold); 0: none, and"
        " the first step says it ran unprimed",
        "5",
        parse=alone(_prime),
    ),
    Option(
        "max-duration",
        "most measured seconds a step is lengthened to when its planned"
        " window holds fewer messages than its SLO's percentiles need (p99: 1,000;"
        " p99.9: 10,000)",
        "60",
        parse=alone(_positive_float),
    ),
    Option("message-size", "bytes per message value (>= 64)", "256", parse=alone(_message_size)),
    Option(
        "slo",
        "SLO asserted per step, overriding markers, e.g. 'p99<=250ms, loss==0'",
        "",
        parse=alone(lambda raw, what: _slo(raw or DEFAULT_SLO, what)),
    ),
    Option(
        "report-dir", "where run reports are written", ".frida/reports", parse=alone(_writable_dir)
    ),
    Option(
        "kafka-version",
        "Apache Kafka release to run",
        DEFAULT_KAFKA_VERSION,
        parse=alone(parse_kafka_version),
    ),
    Option(
        "kafka-home",
        "an unpacked Apache Kafka to use instead of resolving jars",
        "",
        parse=alone(parse_home),
    ),
    Option(
        "brokers",
        "number of Kafka brokers (combined broker+controller nodes)",
        "1",
        parse=alone(_positive_int),
    ),
    Option(
        "broker-config",
        "extra server.properties for every broker, e.g."
        " 'num.io.threads=2,log.flush.interval.messages=1'",
        "",
        parse=alone(parse_producer_config),
    ),
    Option("partitions", "partitions of each step's topic", "3", parse=alone(_positive_int)),
    Option(
        "client",
        "producer/consumer client library: " + ", ".join(CLIENTS),
        "confluent-kafka",
        parse=alone(lambda raw, what: _choice(raw, what, CLIENTS)),
    ),
    Option(
        "producer-config",
        "producer settings by Kafka property name, passed to the"
        " client, e.g. 'acks=1,linger.ms=5,compression.type=lz4'",
        "",
        parse=alone(parse_producer_config),
    ),
    Option(
        "workers",
        "producer agent processes per host (default: one per core)",
        "auto",
        parse=parse_workers,
    ),
    Option(
        "consumers",
        "consumer agent processes per step, each reading its share of the"
        " topic's partitions: auto (enough for the step's target rate) or a count, at"
        " most the partitions",
        "auto",
        parse=alone(parse_consumers),
    ),
    Option(
        "drain",
        "drain steps, overriding markers: the producers send their whole schedule"
        " (warm-up and duration) first while the consumers read nothing, then the"
        " consumers read the backlog; each step reports the drain rate, overall and per"
        " consumer (consumer-side capacity) and its count clauses alone judge it",
        "",
        const="yes",
        parse=alone(parse_yes_no),
    ),
    Option(
        "search",
        "find each capacity test's limit instead of a fixed sweep: LOW:HIGH"
        "[:TOLERANCE], e.g. 1:2000:10%",
        "",
        parse=optional(_search),
    ),
    Option(
        "shapes",
        "run each capacity test's steps once per cluster shape, each on its own cluster:"
        " 'brokers=1;brokers=3,partitions=12;broker_config.num.io.threads=2' or a JSON"
        " list; keys name, brokers, partitions, replication, min_insync,"
        " broker_config.<property>, kafka_version",
        "",
        parse=alone(lambda raw, what: parse_shapes(raw, what) if raw else ()),
    ),
    Option(
        "compare",
        "compare with the previous run of each test (or with run id RUN)",
        "",
        const="last",
        parse=parse_compare,
    ),
    Option(
        "compare-fail",
        "fail the session on regressions past thresholds, e.g."
        " capacity:10%,p99:20% (compares with the previous run unless --frida-compare"
        " names one)",
        "",
        parse=alone(parse_thresholds_option),
    ),
    Option(
        "target",
        "the load to size the cluster for, beside each shape's confirmed limit in the"
        " report, e.g. instruments=16000,ticks=2/s or rate=32000/s",
        "",
        parse=alone(parse_target_option),
    ),
    Option(
        "kafka-image",
        "Kafka image for the docker and swarm sites (apache/kafka's env"
        " contract); default apache/kafka:<kafka-version> if present, else the"
        " frida/kafka:<kafka-version> that `frida images build` makes",
        "",
        parse=alone(parse_image_ref),
    ),
    Option(
        "producers-per-replica",
        "swarm site: logical producers per producer service replica",
        "10",
        parse=alone(_positive_int),
    ),
    Option(
        "nodes",
        "Grid'5000: nodes to reserve, a count (brokers, then producer nodes; the"
        " consumer runs on the first broker node; default brokers + 2) or per role,"
        " e.g. brokers=1,consumer=1,producers=2 (consumer=1: a node of its own)",
        "",
        parse=parse_nodes_option,
    ),
    Option(
        "cluster",
        "Grid'5000: the cluster to reserve on (default: any of the site)",
        "",
        parse=text_or_none,
    ),
    Option(
        "walltime",
        "Grid'5000: reservation length, H:MM:SS or seconds",
        "1:00:00",
        parse=alone(parse_walltime),
    ),
    Option(
        "queue",
        "Grid'5000: OAR queue (default, production, besteffort, ...)",
        "",
        parse=text_or_none,
    ),
    Option(
        "job-type",
        "Grid'5000: OAR job types, comma-separated, e.g. night,exotic (not"
        " deploy: nothing here runs kadeploy3)",
        "",
        parse=parse_job_types,
    ),
    Option(
        "reservation",
        "Grid'5000: advance reservation start, 'YYYY-MM-DD HH:MM[:SS]'"
        " (Paris time, whatever this machine's zone)",
        "",
        parse=alone(parse_reservation_date),
    ),
    Option("job-name", "Grid'5000: OAR job name (default frida-<run id>)", "", parse=text_or_none),
    Option(
        "job-id",
        "Grid'5000: use this running OAR job instead of reserving",
        "",
        parse=optional(_positive_int),
    ),
    Option(
        "keep",
        "Grid'5000: keep the job at the end instead of deleting it",
        "",
        const="yes",
        parse=alone(_flag),
    ),
    Option(
        "job-start-timeout",
        "Grid'5000: seconds to wait for the job to start (past the"
        " reserved start, for an advance reservation) before deleting it",
        "3600",
        parse=alone(_positive_float),
    ),
    Option(
        "oar-poll",
        "Grid'5000: seconds between OAR status polls",
        "20",
        parse=alone(_positive_float),
    ),
    Option(
        "g5k-api",
        "Grid'5000 reference API base URL (default: execo's)",
        "",
        parse=alone(parse_url("")),
    ),
    Option(
        "ssh-config",
        "hosts and Grid'5000: an ssh_config file for reaching the nodes",
        "",
        parse=alone(existing_file),
    ),
    Option(
        "runtime",
        "hosts and Grid'5000: how Kafka and the agents run on the nodes: swarm"
        " (a Docker swarm formed on them, the stacks deployed) or ssh (processes over SSH)",
        "swarm",
        parse=alone(lambda raw, what: _choice(raw, what, RUNTIMES)),
    ),
    Option(
        "images",
        "hosts and Grid'5000 with the swarm runtime: a directory written by"
        " `frida images save DIR`, for controllers without a Docker daemon holding the"
        " images",
        "",
        parse=alone(images_dir),
    ),
    Option(
        "producers-per-node",
        "hosts and Grid'5000 with the swarm runtime: most producers"
        " one node runs (a multiple of --frida-producers-per-replica); a step that needs"
        " more nodes adds them (Grid'5000: a further reservation)",
        "",
        parse=parse_producers_per_node,
    ),
    Option(
        "clock-correction",
        "correct cross-host latencies by the measured clock offsets: on or off",
        "on",
        parse=alone(parse_on_off),
    ),
    Option(
        "clock-sync",
        "hosts and Grid'5000: synchronise the nodes' clocks before they"
        " take part: off; chrony (a running ntpd is kept and read; else chrony installed"
        " and stepped through sudo-g5k on Grid'5000, sudo elsewhere); or ptpd (a PTP"
        " master on the first node, slaves on the others, for the whole run)",
        "off",
        parse=alone(lambda raw, what: _choice(raw, what, CLOCK_SYNC)),
    ),
    Option(
        "plan",
        "print what the run would do (the site's reservation, the nodes, each"
        " test's steps and their load time) and stop: nothing is reserved or started",
        "",
        const="yes",
        parse=alone(_flag),
    ),
    Option(
        "monitor",
        "read each broker's CPU, memory, storage and Kafka metrics (through"
        " the Prometheus JMX exporter) and the host's CPU and disk once a second during"
        " each step, to say what saturated: on or off (hosts and Grid'5000 read their"
        " brokers' nodes over ssh)",
        "on",
        parse=alone(parse_on_off),
    ),
    Option(
        "broker-cores",
        "local and docker: run the brokers on this many cores of their"
        " own (the machine's last ones) and the controller and its agents on the others,"
        " so the brokers' CPU has its own ceiling and cannot be taken by the harness; 0:"
        " everything shares the host's cores",
        "0",
        parse=parse_broker_cores,
    ),
    Option(
        "influx",
        "also send each step to InfluxDB (1.x write endpoint), e.g."
        " http://127.0.0.1:8086/write?db=frida",
        "",
        parse=alone(parse_url("http://127.0.0.1:8086/write?db=frida")),
    ),
)
