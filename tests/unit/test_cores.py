"""--frida-broker-cores: the brokers' cores and the harness's never overlap, and the
controller's threads get their own masks back."""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.runtimes.cores import (
    CoreSplit,
    HarnessPin,
    cores_details,
    split_cores,
    usable_cores,
)


@given(st.lists(st.integers(0, 255), min_size=2, max_size=64, unique=True), st.data())
def test_a_split_gives_the_brokers_the_last_cores_and_the_harness_the_rest(
    cores: list[int], data: st.DataObject
) -> None:
    cores.sort()
    n = data.draw(st.integers(1, len(cores) - 1))
    split = split_cores(n, cores)
    assert len(split.broker) == n and split.harness
    assert set(split.broker).isdisjoint(split.harness)
    assert sorted(split.harness + split.broker) == cores
    assert max(split.harness) < min(split.broker)
    assert split.broker_list == ",".join(map(str, cores[-n:]))


@pytest.mark.parametrize("n", [0, 2, 3])
def test_a_split_that_leaves_the_harness_nothing_is_refused(n: int) -> None:
    with pytest.raises(ValueError, match="expected 1 to 1"):
        split_cores(n, [4, 7])


@pytest.mark.skipif(len(usable_cores()) < 2, reason="needs two usable cores")
def test_the_pin_holds_every_thread_and_gives_their_masks_back() -> None:
    before = os.sched_getaffinity(0)
    split = split_cores(1)
    pin = HarnessPin(split)
    started = threading.Event()
    stop = threading.Event()
    seen: list[set[int]] = []

    def worker() -> None:
        started.set()
        stop.wait(30)
        seen.append(os.sched_getaffinity(0))

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait(30)
    try:
        pin.apply()
        assert os.sched_getaffinity(0) == set(split.harness)
        # a thread started after the pin inherits it, as the agents' processes do
        inherited: list[set[int]] = []
        late = threading.Thread(target=lambda: inherited.append(os.sched_getaffinity(0)))
        late.start()
        late.join(30)
        assert inherited == [set(split.harness)]
    finally:
        stop.set()
        thread.join(30)
        pin.release()
    assert seen == [set(split.harness)]  # a thread that ran before was pinned too
    assert os.sched_getaffinity(0) == before
    assert cores_details(pin) == {
        "broker_cores": split.broker_list,
        "harness_cores": ",".join(map(str, split.harness)),
    }
    assert cores_details(None) == {}


def test_a_mask_the_kernel_refuses_raises_and_leaves_every_thread_as_it_was() -> None:
    before = os.sched_getaffinity(0)
    beyond = max(usable_cores()) + 4096  # no such core
    pin = HarnessPin(CoreSplit((beyond + 1,), (beyond,)))
    with pytest.raises(OSError, match="Invalid argument"):
        pin.apply()
    assert os.sched_getaffinity(0) == before
