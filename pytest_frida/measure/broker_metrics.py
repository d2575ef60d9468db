"""A broker's own figures from one scrape of the JMX exporter (kafka.exporter).

The exporter serves only the attributes kafka.exporter's rules name, under names of ours
(`frida_topic_BytesIn`, `frida_request_time_ms{request="Produce",part="TotalTimeMs",
stat="Mean"}`). What comes out are counters a rate can be taken of (a Yammer meter's
Count; the request handlers' idle meter counts idle nanoseconds per thread) and gauges.
Two kinds of figure are Kafka's own smoothing and say so in their units
(measure.resources): the network processors' idle share (a one-minute rate) and request
time percentiles (a decaying reservoir of roughly the last five minutes); neither is
confined to a step.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

#: metric (kafka.exporter's RULES) -> the counter or gauge key of measure.resources
_PLAIN = {
    "frida_handler_idle_ns": "handler_idle_ns",
    "frida_network_idle": "network_idle",
    "frida_request_queue": "request_queue",
    "frida_topic_BytesIn": "bytes_in",
    "frida_topic_BytesOut": "bytes_out",
    "frida_topic_MessagesIn": "messages_in",
    "frida_under_replicated": "under_replicated",
    "frida_isr_shrinks": "isr_shrinks",
}
#: (request, part) of frida_request_time_ms -> the key of its 99th percentile
_P99 = {
    ("Produce", "TotalTimeMs"): "produce_p99_ms",
    ("Produce", "RequestQueueTimeMs"): "produce_queue_p99_ms",
    ("Produce", "LocalTimeMs"): "produce_local_p99_ms",
    ("Produce", "RemoteTimeMs"): "produce_remote_p99_ms",
    ("Produce", "ResponseSendTimeMs"): "produce_response_p99_ms",
    ("FetchConsumer", "TotalTimeMs"): "fetch_p99_ms",
}
#: produce request parts whose running sum (Yammer's Mean x Count) is kept
_SUMS = {
    "TotalTimeMs": "produce_time_ms_sum",
    "RequestQueueTimeMs": "produce_queue_ms_sum",
    "LocalTimeMs": "produce_local_ms_sum",
}


def parse_scrape(text: str) -> dict[str, float]:
    """The figures one scrape carries, by measure.resources key. GC time (ms) is summed
    over the JVM's stop-the-world collectors (a concurrent collector's time runs beside the
    application). A metric the scrape lacks is left out."""
    out: dict[str, float] = {}
    gc_ms: float | None = None
    stats: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, float(sample.value)
            if sample.name in _PLAIN:
                out[_PLAIN[sample.name]] = value
            elif sample.name == "frida_gc_time_ms":
                if "Concurrent" not in labels.get("gc", ""):
                    gc_ms = (gc_ms or 0.0) + value
            elif sample.name == "frida_log_flush_ms":
                stats[("LogFlush", "", labels.get("stat", ""))] = value
            elif sample.name == "frida_request_time_ms":
                stats[
                    (labels.get("request", ""), labels.get("part", ""), labels.get("stat", ""))
                ] = value
    if gc_ms is not None:
        out["gc_ms"] = gc_ms
    for (request, part), key in _P99.items():
        if (request, part, "99thPercentile") in stats:
            out[key] = stats[(request, part, "99thPercentile")]
    # a Yammer histogram's Mean is its running sum over its count since the start, so
    # mean x count is a counter: the broker's exact time per request over any interval
    for part, key in _SUMS.items():
        count = stats.get(("Produce", part, "Count"))
        mean = stats.get(("Produce", part, "Mean"))
        if count is not None and mean is not None:
            out[key] = count * mean
            if part == "TotalTimeMs":
                out["produce_requests"] = count
    # log flushes, timed the same way: their count and the running sum of their time
    flushes = stats.get(("LogFlush", "", "Count"))
    flush_mean = stats.get(("LogFlush", "", "Mean"))
    if flushes is not None and flush_mean is not None:
        out["log_flushes"] = flushes
        out["log_flush_ms_sum"] = flushes * flush_mean
        out["log_flush_s"] = flushes * flush_mean / 1000.0
    return out
