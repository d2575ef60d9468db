"""How fast this harness's consumers read a backlog from the cluster, per consumer count.

In a drain step (`drain=True`) the producers send their whole schedule (warm-up and
duration, at the planned rate) while the consumers fetch nothing; then the consumers read
the backlog. The report gives the drain rate overall and per consumer, the time to drain,
and the lag over the step. It measures the consumer side: consumers saturated while
draining set the rate themselves, and the report says so rather than calling it the
broker's limit. A drain step's count clauses judge it: every message is accounted as in
any step. Parametrising `frida_consumers` sweeps the consumer count (at most the topic's
partitions, 3 by default).
"""

import pytest


@pytest.mark.parametrize("frida_consumers", [1, 2], ids=lambda n: f"consumers={n}")
@pytest.mark.capacity(producers=[2], rate=5000, duration=8, warmup=2, drain=True)
def test_drain(frida_result, frida_consumers):
    assert frida_result.drain["consumers"] == frida_consumers
    assert frida_result.drain["rate"] is not None
