"""Reading an agent's events off its stdout: the one reader every holder of an agent's
pipe uses (the controller's `runtimes.agents.AgentHandle`, a replica's
`service.AgentChild`).

A thread of its own parses each line as it comes: progress events replace
`last_progress`, every other event is queued for `wait_for`. A line that is not a JSON
object (a library printing to stdout) is skipped.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

from pytest_frida.workload.protocol import ProgressEvent, progress


class EventTimeout(RuntimeError):
    """No event of the kind waited for came in time (the agent may still be working)."""


class PipeClosed(RuntimeError):
    """The agent's stdout closed before the event waited for: it exited."""


class AgentFailed(RuntimeError):
    """The agent sent an error event; `str()` is its message."""


class EventPipe:
    """The events of one agent, read from `lines` (bytes or text) on a daemon thread."""

    def __init__(self, lines: Iterable[bytes] | Iterable[str], name: str = "agent") -> None:
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.last_progress: ProgressEvent = {"event": "progress"}
        threading.Thread(
            target=self._pump, args=(lines,), daemon=True, name=f"frida-{name}-reader"
        ).start()

    def _pump(self, lines: Iterable[bytes] | Iterable[str]) -> None:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                if event.get("event") == "progress":
                    self.last_progress = progress(event)
                else:
                    self._events.put(event)
        self._events.put(None)

    def wait_for(self, event: str, timeout_s: float) -> dict[str, Any]:
        """The next event named `event` (events of other names before it are dropped);
        EventTimeout, PipeClosed, or AgentFailed for an error event."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EventTimeout(f"sent no {event!r} within {timeout_s:.0f}s")
            try:
                got = self._events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if got is None:
                raise PipeClosed(f"exited before {event!r}")
            if got.get("event") == "error":
                raise AgentFailed(str(got.get("message")))
            if got.get("event") == event:
                return got
