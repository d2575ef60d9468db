"""Faults injected into a running step: stop, kill, restart, pause and resume brokers.

A test asks for `frida_faults`, plans events relative to the step's start, then runs the
step; the step runner fires them on time and the result lists what happened when:

    def test_broker_loss(frida_step, frida_faults):
        frida_faults.at(3.0, "kill", broker=1).at(8.0, "restart", broker=1)
        result = frida_step.run()
        assert result.counts.lost == 0
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("kill", "stop", "restart", "pause", "resume")


class FaultError(ValueError):
    pass


@dataclass(frozen=True)
class FaultEvent:
    at_s: float
    action: str
    broker: int


@dataclass
class FaultPlan:
    """Events to fire during the next step, in seconds after the step's schedule starts."""

    events: list[FaultEvent] = field(default_factory=list)

    def at(self, seconds: float, action: str, broker: int) -> FaultPlan:
        if action not in ACTIONS:
            raise FaultError(f"fault action {action!r}: accepted: {', '.join(ACTIONS)}")
        if seconds < 0:
            raise FaultError(f"fault time {seconds!r}: expected seconds >= 0 after the start")
        self.events.append(FaultEvent(float(seconds), action, int(broker)))
        return self
