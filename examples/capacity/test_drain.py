"""How fast this harness's consumers read a backlog from the cluster, per consumer count.

In a drain step (`drain=True`) the producers send their whole schedule (warm-up and
duration, at the planned rate) while the consumers read nothing; then the consumers read
the backlog. The report gives the drain rate overall and per consumer, the time to drain,
and the lag over the step. It measures the consumer side: consumers saturated while
draining set the rate themselves, and the report says so rather than calling it the
broker's limit. A drain step's count clauses judge it: every message is accounted as in
any step.
"""

import pytest

_LOAD = {"producers": [2], "rate": 5000, "duration": 8, "warmup": 2, "drain": True}


@pytest.mark.capacity(consumers=1, **_LOAD)
def test_drain_one_consumer(frida_result):
    assert frida_result.drain["consumers"] == 1
    assert frida_result.drain["rate"] is not None


@pytest.mark.capacity(consumers=2, **_LOAD)
def test_drain_two_consumers(frida_result):
    assert frida_result.drain["consumers"] == 2
    assert frida_result.drain["rate"] is not None
