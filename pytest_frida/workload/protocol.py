"""JSON lines between the controller and its agents (stdin down, stdout up).

Down: the agent's config (first line), then commands {"cmd": "start"|"drain", ...}.
Up: events {"event": "ready"|"progress"|"result"|"error", ...}. Anything an agent
logs goes to stderr, never stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


def emit(event: str, out: TextIO | None = None, **fields: Any) -> None:
    stream = out or sys.stdout
    stream.write(json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n")
    stream.flush()


def read_message(stream: TextIO | None = None) -> dict[str, Any]:
    line = (stream or sys.stdin).readline()
    if not line:
        raise EOFError("controller closed the agent's stdin")
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {line[:80]!r}")
    return message
