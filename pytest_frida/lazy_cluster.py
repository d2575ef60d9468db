"""The run's cluster, started the first time a test asks for it, so that `pytest
--collect-only` or a session without capacity tests never starts a broker; and stopped
once, however the run ends: at session end, at interpreter exit after a signal, or at
once when its own start fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.process import (
    install_exit_handlers,
    interrupts_deferred,
    register_cleanup,
    unregister_cleanup,
)
from pytest_frida.sites.base import Cluster, Site

#: settings, run directory, run id -> the site, not started
MakeSite = Callable[[ClusterSettings, Path, str], Site]


class LazyCluster:
    """A site made and started on the first `get`. A failed start is remembered: every
    later `get` fails at once with the same message, rather than starting again."""

    def __init__(
        self,
        settings: ClusterSettings,
        run_dir: Path,
        instance: str,
        make_site: MakeSite,
        problems: list[str],
        before_start: Callable[[], None] = lambda: None,
        started: Callable[[Cluster], None] = lambda cluster: None,
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        #: the name the site gives what it creates (a worker's own under xdist)
        self.instance = instance
        self.make_site = make_site
        #: where a failed cleanup is said (it does not stop the run)
        self.problems = problems
        self.before_start = before_start
        self.started = started
        #: whole lines about long work, handed to the site
        self.notify: Callable[[str], None] = lambda line: None
        #: why the start failed, once it has
        self.error: str | None = None
        self._site: Site | None = None
        self._cluster: Cluster | None = None

    def get(self) -> Cluster:
        """The cluster, started on first use."""
        if self._cluster is not None:
            return self._cluster
        if self.error is not None:
            raise FridaSetupError(self.error)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        install_exit_handlers()  # from here on there is something to clean up
        self.before_start()
        self._site = self.make_site(self.settings, self.run_dir, self.instance)
        self._site.notify = self.notify
        register_cleanup(self.stop)  # even if pytest itself is interrupted twice
        try:
            self._cluster = self._site.start()
        except BaseException as exc:
            self.error = f"the {self.settings.site} site could not start Kafka: {exc}"
            with interrupts_deferred():
                try:
                    self._site.stop()
                except Exception as stop_exc:  # the start's own error is the one to show
                    self.problems.append(f"cleaning up after the failed start: {stop_exc}")
                finally:
                    self._site = None
            if isinstance(exc, FridaSetupError):
                raise FridaSetupError(self.error) from exc
            raise
        self.started(self._cluster)
        return self._cluster

    def stop(self) -> None:
        """Stop the site, to its end even if interrupted meanwhile; a no-op once stopped.
        A stop that fails raises and keeps the site and its exit cleanup, so that the
        session's end and the interpreter's exit try again: its cluster may still run."""
        self._cluster = None
        if self._site is not None:
            with interrupts_deferred():
                self._site.stop()
            self._site = None
        unregister_cleanup(self.stop)
