"""Faults injected into a running step: brokers stopped, killed, restarted, paused and
resumed, their network delayed or lossy, and a share of the producers killed.

A test asks for `frida_faults`, plans events relative to the step's start, then runs the
step; the step runner fires them on time and the result lists what happened when:

    def test_broker_loss(frida_step, frida_faults):
        frida_faults.at(3.0, "kill", broker=1).at(8.0, "restart", broker=1)
        result = frida_step.run()
        assert result.counts.lost == 0

    frida_faults.at(2.0, "delay", broker=0, value="100ms").at(6.0, "heal", broker=0)
    frida_faults.at(3.0, "kill-producers", value="0.5")   # half of the producer agents
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: faults on one broker
BROKER_ACTIONS = ("kill", "stop", "restart", "pause", "resume")
#: netem on one broker's network interface: delay VALUE ("100ms", "100ms 20ms"), loss VALUE
#: ("5%"), heal (remove both)
NETWORK_ACTIONS = ("delay", "loss", "heal")
#: SIGKILL a share VALUE (0 < share <= 1) of the producer agents
PRODUCER_ACTIONS = ("kill-producers",)
ACTIONS = BROKER_ACTIONS + NETWORK_ACTIONS + PRODUCER_ACTIONS
_DELAY = re.compile(r"^\d+(\.\d+)?(us|ms|s)( \d+(\.\d+)?(us|ms|s))?$")
_LOSS = re.compile(r"^\d+(\.\d+)?%$")


class FaultError(ValueError):
    pass


@dataclass(frozen=True)
class FaultEvent:
    at_s: float
    action: str
    broker: int
    value: str | None = None

    def describe(self) -> str:
        target = "producers" if self.action in PRODUCER_ACTIONS else f"broker-{self.broker}"
        return f"{self.action} {target}" + (f" {self.value}" if self.value else "")


def check_value(action: str, value: str | None) -> str | None:
    """The fault's argument, validated: one line naming it and what is accepted."""
    if action == "delay":
        if value is None or not _DELAY.match(value):
            raise FaultError(
                f"fault delay value {value!r}: expected a delay like '100ms' or"
                " '100ms 20ms' (with jitter)"
            )
    elif action == "loss":
        if value is None or not _LOSS.match(value) or float(value[:-1]) > 100:
            raise FaultError(f"fault loss value {value!r}: expected a percentage like '5%'")
    elif action == "kill-producers":
        try:
            share = float(value or "")
        except ValueError:
            share = -1.0
        if not 0 < share <= 1:
            raise FaultError(
                f"fault kill-producers value {value!r}: expected a share of the"
                " producer agents, 0 < share <= 1, e.g. '0.5'"
            )
    elif value is not None:
        raise FaultError(f"fault {action} takes no value (got {value!r})")
    return value


@dataclass
class FaultPlan:
    """Events to fire during the next step, in seconds after the step's schedule starts."""

    events: list[FaultEvent] = field(default_factory=list)

    def at(
        self, seconds: float, action: str, broker: int = 0, value: str | None = None
    ) -> FaultPlan:
        if action not in ACTIONS:
            raise FaultError(f"fault action {action!r}: accepted: {', '.join(ACTIONS)}")
        if seconds < 0:
            raise FaultError(f"fault time {seconds!r}: expected seconds >= 0 after the start")
        self.events.append(
            FaultEvent(float(seconds), action, int(broker), check_value(action, value))
        )
        return self
