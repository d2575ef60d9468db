"""Nodes made ready to join the run's swarm: clock, Docker, images, no leftovers.

For every node: its clock synchronised when asked (chrony per node, or ptpd across the
run's nodes), Docker answers (or the site installs it: `g5k-setup-docker -t` on
Grid'5000), the images it needs are loaded without a registry (from this machine's daemon,
or from `frida images save` archives), and leftovers of a dead run are removed. All nodes
are prepared at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.images import AGENT_IMAGE, kafka_image
from pytest_frida.images.checks import check_agent_image
from pytest_frida.images.transfer import (
    ArchiveSource,
    DaemonSource,
    ImageSource,
    load_images,
)
from pytest_frida.runtimes.clock_sync import sync_clock, unsynchronised_note
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.docker_owner import sweep_orphans
from pytest_frida.runtimes.fan_out import on_each
from pytest_frida.runtimes.ptp import PtpDomain
from pytest_frida.runtimes.ssh import RemoteError
from pytest_frida.runtimes.swarm import SwarmNode
from pytest_frida.sites.nodes import NodeAccess, host_name


def image_source(settings: ClusterSettings) -> ImageSource:
    """Where the nodes' images come from: --frida-images archives, else this machine's
    Docker daemon; DockerError saying what to do when it lacks one of them."""
    wanted = [settings.kafka_image or kafka_image(settings.kafka_version), AGENT_IMAGE]
    if settings.images_dir is not None:
        source: ImageSource = ArchiveSource(settings.images_dir)
    else:
        try:
            local = DockerCli()
            local.ping()
        except DockerError as exc:
            raise DockerError(
                f"the nodes need {', '.join(wanted)}, and without a registry"
                f" they come from a Docker daemon here: {exc}; or run `frida"
                " images save DIR` where Docker has them and pass"
                " --frida-images=DIR"
            ) from exc
        source = DaemonSource(local)
        check_agent_image(local)
    for image in wanted:
        source.image_id(image)
    return source


class SwarmNodeSetup:
    """Prepares the run's nodes for the swarm, and keeps what the report says of them."""

    def __init__(
        self,
        settings: ClusterSettings,
        run_dir: Path,
        run_id: str,
        access: NodeAccess,
        notify: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.run_id = run_id
        self.access = access
        self.notify = notify
        self.kafka_image = settings.kafka_image or kafka_image(settings.kafka_version)
        #: each node's Docker version, by host
        self.docker_servers: dict[str, str] = {}
        #: the images each node was given, by host
        self.images_loaded: dict[str, list[str]] = {}
        #: what chrony (or ptpd) said on each node after synchronising it (--frida-clock-sync)
        self.clock_sync: dict[str, dict[str, object]] = {}
        #: --frida-clock-sync=ptpd: the nodes' ptpd, for the whole run
        self.ptp: PtpDomain | None = None
        self._source: ImageSource | None = None

    def prepare(self, hosts: Sequence[str], broker_hosts: Sequence[str]) -> list[SwarmNode]:
        """`hosts` ready to join, in their order; the Kafka image goes to `broker_hosts`."""
        self._image_source()
        clocks = "clocks (chrony), " if self.settings.clock_sync == "chrony" else ""
        self.notify(f"frida: preparing {len(hosts)} node(s) for the swarm: {clocks}Docker, images")
        nodes = on_each(hosts, lambda host: self._prepare(host, host in broker_hosts))
        self._start_ptp(hosts)
        return nodes

    def stop(self) -> None:
        if self.ptp is not None:
            ptp, self.ptp = self.ptp, None
            ptp.stop()

    def _image_source(self) -> ImageSource:
        if self._source is None:
            self._source = image_source(self.settings)
        return self._source

    def _docker_on(self, host: str) -> str:
        """The node's Docker version, installing Docker where the site knows how."""
        docker = DockerCli.on_node(self.access.ssh, host)
        try:
            return docker.ping()
        except DockerError as first:
            if self.access.docker_setup is None:
                raise DockerError(
                    f"{host}: no Docker daemon answers ({first}); install"
                    " Docker there, or use --frida-runtime=ssh"
                ) from None
        self.notify(f"frida: {host}: installing Docker ({self.access.docker_setup})")
        try:
            self.access.ssh.run(host, self.access.docker_setup, timeout=900)
        except RemoteError as exc:
            raise DockerError(f"{host}: Docker setup failed: {exc}") from None
        # the setup may have put the login in Docker's group: only a new login has it
        self.access.ssh.disconnect(host)
        try:
            return docker.ping()
        except DockerError as exc:
            raise DockerError(
                f"{host}: still no Docker daemon after `{self.access.docker_setup}`: {exc}"
            ) from None

    def _prepare(self, host: str, broker: bool) -> SwarmNode:
        """One node ready to join: its clock synchronised (when asked), Docker, images, no
        leftovers of dead runs."""
        self.access.ssh.check(host)
        if self.settings.clock_sync == "chrony":
            sync = sync_clock(self.access.ssh, self.access.sudo, host)
            self.clock_sync[host_name(host)] = sync
            note = unsynchronised_note(host, sync)
            if note:
                self.notify(note)
        self.docker_servers[host] = self._docker_on(host)
        docker = DockerCli.on_node(self.access.ssh, host)
        images = ([self.kafka_image] if broker else []) + [AGENT_IMAGE]
        self.images_loaded[host] = load_images(
            images, docker, self._image_source(), progress=self.notify
        )
        check_agent_image(docker)
        sweep_orphans(docker)
        return SwarmNode(host, docker, self.access.ssh.address(host))

    def _start_ptp(self, hosts: Sequence[str]) -> None:
        """ptpd on `hosts` (the first of the run is the master), waited for and recorded."""
        if self.settings.clock_sync != "ptpd":
            return
        if self.ptp is None:
            self.ptp = PtpDomain(
                self.access.ssh, self.access.sudo, self.run_id, self.run_dir / "logs"
            )
        self.ptp.start(hosts, self.notify)
        for host, record in self.ptp.wait(hosts, self.notify).items():
            self.clock_sync[host_name(host)] = record
