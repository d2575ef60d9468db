"""How much Kafka for 16,000 instruments: one search on four cluster shapes.

One broker and three, each with Kafka's default request threads and with small pools
(one network thread, two I/O threads), under a market-data load: 16,000 instruments
spread over the producers, Zipf popularity (s=1.1), Poisson arrivals. Each shape gets
its own cluster, started and stopped in turn, and its own confirmed limit; with a target
the report sizes them:

    pytest examples/dimensioning/test_cluster_shapes.py --frida-target=instruments=16000,ticks=2/s

Three brokers are searched at a lower rate per producer than one: on a two-core machine
three brokers keeping three copies of every message hold a small fraction of what one
holds (the host's CPU saturates; report.html shows it), and one search range cannot
bracket both. Capacities are compared in messages a second, so the sizing reads both.
On one machine every broker shares its cores with the others and with the harness: these
limits are the machine's. Run the suite on Grid'5000 or a hosts file to size hardware.
"""

import pytest

SMALL_POOLS = {"num.network.threads": "1", "num.io.threads": "2"}
SLO = "p99<=500ms, loss==0"
#: 16,000 instruments over the producers, a few ticking far more than most, at random
MARKET = {"instruments": 16000, "popularity": "zipf:1.1", "arrivals": "poisson"}


@pytest.mark.capacity(
    search="4:96:10%",
    rate=500,
    duration=6,
    warmup=2,
    slo=SLO,
    **MARKET,
    shapes=[
        {"brokers": 1},
        {"brokers": 1, "broker_config": SMALL_POOLS, "name": "1b-small-pools"},
    ],
)
def test_one_broker(frida_result):
    assert frida_result.counts is not None
    assert frida_result.counts.duplicated == 0


@pytest.mark.capacity(
    search="2:48:10%",
    rate=100,
    duration=6,
    warmup=2,
    slo=SLO,
    **MARKET,
    shapes=[
        {"brokers": 3, "partitions": 6},
        {"brokers": 3, "partitions": 6, "broker_config": SMALL_POOLS, "name": "3b-small-pools"},
    ],
)
def test_three_brokers(frida_result):
    assert frida_result.counts is not None
    assert frida_result.counts.duplicated == 0
