"""File-descriptor and thread limits for agents running many client instances."""

from __future__ import annotations

import resource

#: sockets, pipes and eventfds one client instance holds, with room for a few brokers
FDS_PER_CLIENT = 8
BASE_FDS = 64
#: threads one client instance runs (librdkafka: main, internal, one per broker and bootstrap)
THREADS_PER_CLIENT = 6
BASE_THREADS = 32


class LimitError(RuntimeError):
    """The process cannot hold as many clients as asked; the message says what to raise."""


def raise_fd_limit(clients: int) -> int:
    """Raise the soft RLIMIT_NOFILE to what `clients` need (up to the hard limit)."""
    need = BASE_FDS + clients * FDS_PER_CLIENT
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and need > hard:
        raise LimitError(
            f"{clients} producers in one agent need about {need} file descriptors but the hard"
            f" limit is {hard}; raise it (ulimit -Hn / limits.conf) or use more --frida-workers"
        )
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return need
    return soft


def check_thread_limit(clients: int) -> None:
    """Raise the soft RLIMIT_NPROC if it is too low for `clients`; error when it cannot be.

    (RLIMIT_NPROC counts all of the user's threads; root is usually unlimited.)
    """
    need = BASE_THREADS + clients * THREADS_PER_CLIENT
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise LimitError(
            f"{clients} producers in one agent need about {need} threads but the hard process"
            f" limit is {hard}; raise it (ulimit -Hu / limits.conf) or use more --frida-workers"
        )
    resource.setrlimit(resource.RLIMIT_NPROC, (need, hard))
