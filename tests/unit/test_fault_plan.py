"""The fault plan a test gives its step: actions, times and values, checked up front."""

from __future__ import annotations

import pytest

from pytest_frida.faults import FaultError, FaultPlan


def test_plan_keeps_events_in_order_with_values() -> None:
    plan = (
        FaultPlan()
        .at(1, "kill", broker=1)
        .at(2, "delay", broker=0, value="100ms 20ms")
        .at(3, "loss", broker=0, value="5%")
        .at(4, "heal", broker=0)
        .at(5, "kill-producers", value="0.5")
    )
    assert [(e.at_s, e.action, e.value) for e in plan.events] == [
        (1.0, "kill", None),
        (2.0, "delay", "100ms 20ms"),
        (3.0, "loss", "5%"),
        (4.0, "heal", None),
        (5.0, "kill-producers", "0.5"),
    ]
    assert plan.events[1].describe() == "delay broker-0 100ms 20ms"
    assert plan.events[4].describe() == "kill-producers producers 0.5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (1, "explode"),
            "fault action 'explode': accepted: kill, stop, restart, pause, resume,"
            " delay, loss, heal, kill-producers",
        ),
        ((-1, "kill"), "fault time -1: expected seconds >= 0 after the start"),
        ((1, "delay", 0, None), "fault delay value None: expected a delay like '100ms'"),
        ((1, "delay", 0, "fast"), "fault delay value 'fast': expected a delay like '100ms'"),
        ((1, "loss", 0, "5"), "fault loss value '5': expected a percentage like '5%'"),
        ((1, "loss", 0, "101%"), "fault loss value '101%': expected a percentage"),
        ((1, "kill-producers", 0, "0"), "fault kill-producers value '0': expected a share"),
        ((1, "kill-producers", 0, "half"), "fault kill-producers value 'half': expected a share"),
        ((1, "kill", 0, "now"), "fault kill takes no value (got 'now')"),
    ],
)
def test_bad_fault_is_one_clear_error(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(FaultError) as info:
        FaultPlan().at(*args)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
