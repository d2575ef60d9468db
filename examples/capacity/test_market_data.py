"""The original Grid'5000 experiment as a capacity suite.

A fintech ingests market-data ticks: every instrument has a producer that publishes
its ticks to one Kafka broker, and consumers must see each tick within a delivery-time
SLO, with nothing lost. The question: how many producers can one broker take?

Run it locally (the default site) or on a Grid'5000 site:

    pytest examples/capacity
    pytest examples/capacity --frida-site=sophia
"""

import pytest


@pytest.mark.capacity(producers=[1, 5, 20, 50], rate=10, slo="p99<=250ms, loss==0")
def test_market_data_ingestion(frida_result):
    # the SLO above is asserted by the plugin; these are the extra checks of this suite
    assert frida_result.counts.duplicated == 0
    assert frida_result.counts.received >= frida_result.counts.acked - frida_result.counts.lost
