"""Grid'5000 sites (sophia, lyon, nancy, ...): reserve nodes with OAR, deploy, release.

Everything about OAR and the reference API goes through execo_g5k: the site and cluster
are checked against the reference API before anything is reserved (g5k_reference);
`oarsub` submits the job, `wait_oar_job_start` waits for it (with progress),
`get_oar_job_nodes` names the nodes, and `oardel` deletes it at the end, on failure and on
Ctrl-C (unless --frida-keep). execo runs the OAR commands on this machine (the frontend)
and is loaded on first use (g5k_execo).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import time
from pathlib import Path
from typing import Any

from pytest_frida.config import ClusterSettings, Reservation
from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.process import interrupts_deferred
from pytest_frida.runtimes.ssh import SshSettings
from pytest_frida.sites import job_marks
from pytest_frida.sites.base import Cluster, Site
from pytest_frida.sites.g5k_execo import ReservationError, load_execo, quiet_api_threads
from pytest_frida.sites.g5k_jobs import delete_jobs, frida_jobs
from pytest_frida.sites.g5k_reference import check_reference
from pytest_frida.sites.g5k_refusal import read_refusal, refusal_message
from pytest_frida.sites.g5k_time import (
    PARIS,
    daytime_warning,
    job_length,
    job_walltime_s,
    reservation_start,
)
from pytest_frida.sites.node_runtimes import check_before_reserving, deployment_for
from pytest_frida.sites.nodes import NodeAccess, NodeDeployment, Roles, node_order

#: what installs Docker on a Grid'5000 node (its data in /tmp, which has room), by full
#: path: /grid5000/code/bin is on PATH for login shells only, and `ssh node CMD` is none.
#: Run as the login, as Grid'5000 documents it: the script gets root itself (sudo-g5k)
#: and makes Docker usable by the one who ran it, which under sudo-g5k would be root
G5K_DOCKER_SETUP = "/grid5000/code/bin/g5k-setup-docker -t"
#: how long each OAR call may take when looking up a job a timed-out oarsub created
LOOKUP_TIMEOUT_S = 60


class G5KSite(Site):
    def __init__(self, settings: ClusterSettings, run_dir: Path, run_id: str) -> None:
        assert settings.reservation is not None
        self.settings = settings
        self.res: Reservation = settings.reservation
        self.name = self.res.site
        self.run_dir = run_dir
        self.run_id = run_id
        self.job_id: int | None = None
        #: the OAR queue jobs go to (None: OAR's default), from the reference API
        self.queue: str | None = None
        #: jobs this run submitted (the main one, then growth), deleted at the end
        self.created_jobs: list[int] = []
        self.deployment: NodeDeployment | None = None
        #: when the main job ends (epoch seconds), so further jobs end with it
        self._job_end: float | None = None

    def _submission(
        self,
        g5k: Any,
        nodes: int,
        walltime_s: int,
        name: str,
        reservation_date: float | None = None,
    ) -> Any:
        """execo's OarSubmission for `nodes` nodes of the cluster (or the queue)."""
        resources = (
            f"{{cluster='{self.res.cluster}'}}/nodes={nodes}"
            if self.res.cluster
            else f"nodes={nodes}"
        )
        return g5k.OarSubmission(
            resources=resources,
            walltime=walltime_s,
            job_type=list(self.res.job_types) or None,
            queue=self.queue,
            reservation_date=reservation_date,
            name=name,
        )

    def plan_lines(self) -> list[str]:
        """What `start` would reserve and deploy, checked against the reference and status
        APIs as `start` checks it (read only: nothing is submitted)."""
        g5k = load_execo()
        said: list[str] = []
        self.notify, quiet = said.append, self.notify
        try:
            with quiet_api_threads():
                self.queue = check_reference(g5k, self.res, self.notify)
        except ReservationError as exc:
            return [*said, f"would stop before reserving: {exc}"]
        finally:
            self.notify = quiet
        lines = [
            f"site {self.res.site}"
            + (f", cluster {self.res.cluster}" if self.res.cluster else "")
            + f", queue {self.queue or 'default'}",
            *said,
        ]
        reserved = (
            reservation_start(self.res.reservation_date) if self.res.reservation_date else None
        )
        if self.res.job_id is not None:
            try:  # read only, as the run reads it before using the job
                state = g5k.get_oar_job_info(self.res.job_id, None).get("state")
            except Exception as exc:  # OAR's own failure, said as the plan's finding
                state = f"unreadable ({type(exc).__name__}: {exc})"
            lines.append(
                f"uses running OAR job {self.res.job_id} (nothing submitted)"
                if state == "Running"
                else f"would stop: --frida-job-id={self.res.job_id}: the job is"
                f" {state or 'unknown to OAR'}, not Running"
            )
        else:
            submission = self._submission(
                g5k,
                self.res.nodes,
                self.res.walltime_s,
                self.res.job_name or f"frida-{self.run_id}",
                reserved.timestamp() if reserved else None,
            )
            from execo_g5k.oar import get_oarsub_commandline

            lines.append(f"would submit: {get_oarsub_commandline(submission)}")
        when = reserved or dt.datetime.now(PARIS)
        warning = daytime_warning(when, self.res.walltime_s)
        lines.append(
            f"usage policy: {warning}; the site's OAR admission rules may refuse such a job"
            if warning
            else f"usage policy: a {job_length(self.res.walltime_s)} job from"
            f" {when.astimezone(PARIS):%a %H:%M} Paris time keeps to it"
        )
        names = [f"node{i + 1}" for i in range(self.res.nodes)]
        roles = Roles.assign(names, self.settings.brokers, self.res.consumer_node)
        lines.append(
            f"nodes, in their numbers' order: brokers {', '.join(roles.brokers)};"
            f" consumer on {roles.consumer}; producers {', '.join(roles.producers)}"
        )
        lines.append(
            f"runtime {self.settings.runtime}: "
            + (
                "Kafka and the agents as processes over ssh (Java and Python of the nodes)"
                if self.settings.runtime == "ssh"
                else f"a Docker swarm on the nodes (`{G5K_DOCKER_SETUP}` where Docker is missing),"
                " Kafka and the agents as its stacks"
            )
        )
        try:
            check_before_reserving(self.settings)
        except FridaSetupError as exc:
            lines.append(f"would stop before reserving: {exc}")
        return lines

    def _submit(
        self,
        g5k: Any,
        nodes: int,
        walltime_s: int,
        name: str,
        reservation_date: float | None = None,
    ) -> int:
        """`reservation_date` is a Unix time: execo writes it for OAR in Paris time, where
        a date string would be read in this machine's zone first."""
        submission = self._submission(g5k, nodes, walltime_s, name, reservation_date)
        resources = submission.resources
        from execo.exception import ProcessesFailed
        from execo_g5k.config import g5k_configuration

        # execo runs oarsub in a process group of its own, which Ctrl-C does not reach: an
        # interrupt meanwhile would leave the job OAR creates unknown to us, and held.
        # oarsub is let finish (within execo's timeout) so that the job is ours to delete.
        answer_s = g5k_configuration.get("default_timeout")
        within = f"up to {answer_s}s" if answer_s else "execo sets it no time limit"
        with interrupts_deferred(
            f"waiting for oarsub ({within}) so that its job can be deleted", self.notify
        ):
            try:
                ((job_id, _),) = g5k.oarsub([(submission, None)], abort_on_error=True)
            except ProcessesFailed as exc:
                raise self._refused(
                    g5k, exc, f"{resources}, walltime {walltime_s}s", reservation_date, name
                ) from exc
            if job_id is None:
                raise ReservationError("oarsub printed no OAR_JOB_ID")
            self.created_jobs.append(int(job_id))
            self._mark(int(job_id))
        return int(job_id)

    def _refused(
        self, g5k: Any, exc: Any, request: str, reservation_date: float | None, name: str
    ) -> ReservationError:
        """OAR's refusal of `request`, in one line. A job OAR created before oarsub
        failed is deleted, so that none is left, unless it is an advance reservation OAR
        could not place: OAR ends that one in Error itself. An oarsub that execo stopped
        at its timeout is said to have timed out, never to have been refused, and a job
        named `name` that OAR created meanwhile without its id being printed is deleted
        too (unless a live run holds it)."""
        proc = exc.processes[0] if exc.processes else None
        timed_out = bool(getattr(proc, "timeouted", False))
        refusal = read_refusal(
            getattr(proc, "stdout", "") or "",
            getattr(proc, "stderr", "") or "",
            getattr(proc, "exit_code", None),
            timed_out_s=float(getattr(proc, "timeout", None) or 0) if timed_out else None,
        )
        if refusal.job_id is not None and not refusal.reservation_ko:
            self._delete(g5k, refusal.job_id)
        unnamed = ""
        if timed_out and refusal.job_id is None:
            unnamed = (
                self._delete_named(name)
                if self.res.job_name is None  # frida-<run id>: this run's alone
                else f"; OAR may have created a job named {name} meanwhile: see oarstat -u"
                " (it is not deleted by name: --frida-job-name may be another run's too)"
            )
        reserved = (
            f"{dt.datetime.fromtimestamp(reservation_date, PARIS):%Y-%m-%d %H:%M:%S}"
            if reservation_date is not None
            else None
        )
        return ReservationError(refusal_message(refusal, request, reserved) + unnamed)

    def _delete_named(self, name: str) -> str:
        """Delete this user's waiting or running jobs named exactly `name` (a job a live run
        on this frontend holds is kept), and say so, or what to check when OAR cannot be
        asked."""
        from execo_g5k.config import g5k_configuration

        said: list[str] = []
        patience = g5k_configuration.get("default_timeout")
        g5k_configuration["default_timeout"] = LOOKUP_TIMEOUT_S  # OAR is slow already
        try:
            jobs = [job for job in frida_jobs(prefix=name) if job.name == name]
            delete_jobs(jobs, said.append)
        except Exception as exc:  # OAR is the one not answering: say what to check
            return f"; whether OAR created job {name} could not be read ({exc}): see oarstat -u"
        finally:
            g5k_configuration["default_timeout"] = patience
        return f"; {', '.join(said)}" if said else ""

    def _delete(self, g5k: Any, job_id: int) -> None:
        """Delete a job this run will not use, and forget it."""
        with contextlib.redirect_stdout(io.StringIO()):
            g5k.oardel([(job_id, None)])
        if job_id in self.created_jobs:
            self.created_jobs.remove(job_id)
        job_marks.unmark(job_id)

    def _mark(self, job_id: int) -> None:
        problem = job_marks.mark(job_id)
        if problem is not None:
            self.notify(f"frida: warning: {problem}")

    def _wait_running(self, g5k: Any, job_id: int, until_start_s: float = 0.0) -> None:
        from execo_g5k.config import g5k_configuration

        g5k_configuration["polling_interval"] = self.res.poll_s
        g5k_configuration["tiny_polling_interval"] = min(self.res.poll_s, 10)
        self.notify(f"frida: waiting for OAR job {job_id} to start")

        def predicted(start: float | None) -> None:
            if start:
                when = dt.datetime.fromtimestamp(start, PARIS)
                self.notify(
                    f"frida: OAR job {job_id} predicted to start at"
                    f" {when:%Y-%m-%d %H:%M:%S} Paris time"
                )

        if not g5k.wait_oar_job_start(
            job_id,
            None,
            timeout=until_start_s + self.res.start_timeout_s,
            prediction_callback=predicted,
        ):
            state = g5k.get_oar_job_info(job_id, None).get("state", "unknown")
            self._delete(g5k, job_id)  # a job that never ran is not kept
            raise ReservationError(
                f"OAR job {job_id} did not start within"
                f" {self.res.start_timeout_s:.0f}s (state {state}); it was"
                " deleted" + ("" if not self.res.keep else " (--frida-keep ignored: it never ran)")
            )

    def start(self) -> Cluster:
        started = time.monotonic()
        g5k = load_execo()
        with quiet_api_threads():
            self.queue = check_reference(g5k, self.res, self.notify)
        check_before_reserving(self.settings)
        now = dt.datetime.now(PARIS)
        reserved = (
            reservation_start(self.res.reservation_date) if self.res.reservation_date else None
        )
        when = reserved or now
        warning = daytime_warning(when, self.res.walltime_s)
        if warning:
            self.notify(f"frida: warning: Grid'5000 usage policy: {warning}")
        if self.res.job_id is not None:
            self.job_id = self.res.job_id
            self._mark(self.job_id)
            info = g5k.get_oar_job_info(self.job_id, None)
            state = info.get("state")
            if state != "Running":
                raise ReservationError(
                    f"--frida-job-id={self.job_id}: the job is"
                    f" {state or 'unknown to OAR'}, not Running"
                )
        else:
            self.job_id = self._submit(
                g5k,
                self.res.nodes,
                self.res.walltime_s,
                self.res.job_name or f"frida-{self.run_id}",
                reserved.timestamp() if reserved else None,
            )
            self.notify(f"frida: OAR job {self.job_id} submitted")
            # an advance reservation's start timeout counts from the start it reserved
            self._wait_running(
                g5k, self.job_id, max(0.0, (reserved - now).total_seconds()) if reserved else 0.0
            )
            info = g5k.get_oar_job_info(self.job_id, None)
        walltime = job_walltime_s(self.job_id, info)
        if info.get("start_date") and walltime:
            self._job_end = float(info["start_date"]) + float(walltime)
        hosts = sorted(
            (h.address for h in g5k.get_oar_job_nodes(self.job_id, None)), key=node_order
        )
        self.notify(f"frida: OAR job {self.job_id} runs on {', '.join(hosts)}")
        roles = Roles.assign(hosts, self.settings.brokers, self.res.consumer_node)
        access = NodeAccess(
            SshSettings.multiplexed(self.settings.ssh_config, self.run_id),
            docker_setup=G5K_DOCKER_SETUP,
            sudo="sudo-g5k",
        )
        self.deployment = deployment_for(
            self.settings, self.run_dir, self.run_id, access, roles, self.notify, grow=self.grow
        )
        cluster = self.deployment.start(started)
        cluster.details.update(
            oar_job_id=self.job_id,
            oar_jobs=self.created_jobs,
            g5k_site=self.res.site,
            g5k_cluster=self.res.cluster,
            walltime_s=self.res.walltime_s,
            job_kept=self.res.keep,
        )
        return cluster

    def grow(self, count: int) -> list[str]:
        """A further reservation of `count` nodes for a running experiment, ending when the
        main job ends; its nodes, once it runs."""
        g5k = load_execo()
        walltime = self.res.walltime_s
        if self._job_end is not None:
            walltime = max(60, int(self._job_end - time.time()))
        name = f"{self.res.job_name or f'frida-{self.run_id}'}-grow{len(self.created_jobs)}"
        job_id = self._submit(g5k, count, walltime, name)
        self.notify(f"frida: OAR job {job_id} submitted for {count} more node(s)")
        self._wait_running(g5k, job_id)
        hosts = sorted((h.address for h in g5k.get_oar_job_nodes(job_id, None)), key=node_order)
        self.notify(f"frida: OAR job {job_id} runs on {', '.join(hosts)}")
        return hosts

    def stop(self) -> None:
        try:
            if self.deployment is not None:
                self.deployment.stop()
                self.deployment = None
        finally:
            if self.created_jobs and not self.res.keep:
                g5k = load_execo()
                with contextlib.redirect_stdout(io.StringIO()):
                    g5k.oardel([(job, None) for job in self.created_jobs])
                for job in self.created_jobs:
                    self.notify(f"frida: OAR job {job} deleted")
            for job in self.created_jobs if self.res.keep else []:
                self.notify(
                    f"frida: OAR job {job} kept (--frida-keep): delete it with oardel when done"
                )
            if self.res.job_id is not None and self.job_id is not None:
                self.notify(f"frida: OAR job {self.job_id} left running (--frida-job-id)")
            for job in [*self.created_jobs, *([self.job_id] if self.job_id else [])]:
                job_marks.unmark(job)
            self.created_jobs = []
            self.job_id = None
