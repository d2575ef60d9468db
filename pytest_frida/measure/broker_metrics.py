"""A broker's own figures from one scrape of the JMX exporter (kafka.exporter).

The exporter's default format names a metric after the MBean's domain, its `type` and the
attribute (`kafka_server_BrokerTopicMetrics_Count{name="BytesInPerSec"}`). What comes out
are counters a rate can be taken of (a Yammer meter's Count; the request handlers' idle
meter counts idle nanoseconds per thread) and gauges. Two kinds of figure are Kafka's own
smoothing and say so in their units (measure.resources): the network processors' idle
share (a one-minute rate) and request time percentiles (a decaying reservoir of roughly
the last five minutes); neither is confined to a step.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

#: (metric name, {label: value}) -> the counter or gauge key of measure.resources
_WANTED: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {
    ("kafka_server_KafkaRequestHandlerPool_Count",
     (("name", "RequestHandlerAvgIdlePercent"),)): "handler_idle_ns",
    ("kafka_network_SocketServer_Value",
     (("name", "NetworkProcessorAvgIdlePercent"),)): "network_idle",
    ("kafka_network_RequestMetrics_99thPercentile",
     (("name", "TotalTimeMs"), ("request", "Produce"))): "produce_p99_ms",
    ("kafka_network_RequestMetrics_99thPercentile",
     (("name", "RequestQueueTimeMs"), ("request", "Produce"))): "produce_queue_p99_ms",
    ("kafka_network_RequestMetrics_99thPercentile",
     (("name", "LocalTimeMs"), ("request", "Produce"))): "produce_local_p99_ms",
    ("kafka_network_RequestMetrics_99thPercentile",
     (("name", "RemoteTimeMs"), ("request", "Produce"))): "produce_remote_p99_ms",
    ("kafka_network_RequestMetrics_99thPercentile",
     (("name", "ResponseSendTimeMs"), ("request", "Produce"))): "produce_response_p99_ms",
    ("kafka_network_RequestMetrics_99thPercentile",
     (("name", "TotalTimeMs"), ("request", "FetchConsumer"))): "fetch_p99_ms",
    ("kafka_network_RequestChannel_Value",
     (("name", "RequestQueueSize"),)): "request_queue",
    ("kafka_server_BrokerTopicMetrics_Count", (("name", "BytesInPerSec"),)): "bytes_in",
    ("kafka_server_BrokerTopicMetrics_Count", (("name", "BytesOutPerSec"),)): "bytes_out",
    ("kafka_server_BrokerTopicMetrics_Count", (("name", "MessagesInPerSec"),)): "messages_in",
    ("kafka_server_ReplicaManager_Value",
     (("name", "UnderReplicatedPartitions"),)): "under_replicated",
    ("kafka_server_ReplicaManager_Count", (("name", "IsrShrinksPerSec"),)): "isr_shrinks",
}


def _is_pause_time(name: str, labels: dict[str, str]) -> bool:
    """A collector's CollectionTime (`java_lang_G1_Young_Generation_CollectionTime`: the
    exporter puts the bean's `name` first), but a concurrent collector's, whose time runs
    beside the application rather than stopping it."""
    return (labels.get("type") == "GarbageCollector" and name.startswith("java_lang_")
            and name.endswith("_CollectionTime") and "Concurrent" not in name)


def parse_scrape(text: str) -> dict[str, float]:
    """The figures one scrape carries, by measure.resources key; GC time (ms) summed over
    the JVM's collectors. A metric the scrape lacks is left out."""
    out: dict[str, float] = {}
    gc_ms: float | None = None
    means: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name in ("kafka_network_RequestMetrics_Mean",
                                "kafka_network_RequestMetrics_Count")
                    and sample.labels.get("request") == "Produce"):
                means[(sample.labels.get("name", ""), sample.name.rsplit("_", 1)[1])] = \
                    float(sample.value)
            if _is_pause_time(sample.name, sample.labels):
                gc_ms = (gc_ms or 0.0) + float(sample.value)
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items()))
            key = _WANTED.get((sample.name, labels))
            if key is not None:
                out[key] = float(sample.value)
    if gc_ms is not None:
        out["gc_ms"] = gc_ms
    # a Yammer histogram's Mean is its running sum over its count since the start, so
    # mean x count is a counter: the broker's exact time per request over any interval
    for part, key in (("TotalTimeMs", "produce_time_ms_sum"),
                      ("RequestQueueTimeMs", "produce_queue_ms_sum"),
                      ("LocalTimeMs", "produce_local_ms_sum")):
        count, mean = means.get((part, "Count")), means.get((part, "Mean"))
        if count is not None and mean is not None:
            out[key] = count * mean
            if part == "TotalTimeMs":
                out["produce_requests"] = count
    return out
