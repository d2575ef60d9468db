"""Agent entry point: `python -m pytest_frida.workload.agent`, config on the first stdin line."""

from __future__ import annotations

import signal
import sys
import traceback

from pytest_frida.workload import protocol


def serve_clock() -> None:
    """Answer pings with this host's clock until the controller hangs up."""
    import time

    protocol.emit({"event": "ready"})
    while True:
        try:
            ping = protocol.read_ping()
        except EOFError:
            return
        protocol.emit({"event": "pong", "id": ping.get("id"), "t_ns": time.time_ns()})


def main() -> int:
    # SIGTERM means the controller is tearing down and wants nothing more from us: exit at
    # once. A Python handler would wait for the C call in progress (a metadata request to
    # a broker already gone blocks for 30 s) and then for the producer's final flush.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        config = protocol.read_config()
        # .get: a config without a role is refused below; the [] checks narrow its type
        role = config.get("role")
        if role == "producer" and config["role"] == "producer":
            from pytest_frida.workload import producer_agent

            producer_agent.run(config)
        elif role == "consumer" and config["role"] == "consumer":
            from pytest_frida.workload import consumer_agent

            consumer_agent.run(config)
        elif role == "clock":
            serve_clock()
        else:
            raise ValueError(f"unknown agent role {role!r}; expected producer, consumer or clock")
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        protocol.emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
