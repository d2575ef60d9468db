"""Where each broker's server log is kept in a run's folder, and copying it there.

Every site leaves broker i's log at logs/broker-<i>/server.log: Log4j writes it there for
brokers on this machine; the others' logs are copied at the end of the run from wherever
the broker ran (a container, a stack's tasks, a node).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path


def broker_log(run_dir: Path, broker: int) -> Path:
    return run_dir / "logs" / f"broker-{broker}" / "server.log"


def save_broker_logs(
    run_dir: Path,
    brokers: Iterable[int],
    read: Callable[[int], bytes | str],
    unreadable: tuple[type[Exception], ...] = (Exception,),
) -> None:
    """Each broker's log as `read(broker)` gives it. A log that raises one of `unreadable`
    is skipped: the log is a courtesy, and the removal that follows must go on."""
    for broker in brokers:
        try:
            log = read(broker)
            path = broker_log(run_dir, broker)
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(log, str):
                path.write_text(log)
            else:
                path.write_bytes(log)
        except unreadable:
            pass
