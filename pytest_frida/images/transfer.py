"""Copying images to Docker daemons that cannot reach a registry: `docker save | docker load`.

Images come from a source: a Docker daemon that has them (`DaemonSource`, usually this
machine's), or a directory of archives that `frida images save DIR` wrote where Docker runs
(`ArchiveSource`), for controllers without Docker, such as a Grid'5000 frontend. A target is
any daemon we drive (`DockerCli`: local, `-H` address, or a node's over ssh); a target that
already holds an image with the same id is skipped.

For `frida images push-to`, a target named on the command line is anything `docker -H`
accepts (`ssh://user@node`, `tcp://...`, `unix:///...`); a bare host name means
`ssh://<name>`, logged into as your ssh configuration says (Grid'5000's standard nodes take
your own user, not root).
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pytest_frida.runtimes.docker_cli import DockerCli, DockerError

TRANSFER_TIMEOUT_S = 900.0
ARCHIVE_SUFFIX = ".tar"


def docker_target(host: str) -> str:
    """The `docker -H` address of a host named on the command line."""
    if "://" in host:
        return host
    if not host or any(c.isspace() for c in host):
        raise ValueError(
            f"host {host!r} is not a host name or a docker -H address"
            " (ssh://user@node, tcp://..., unix:///...)"
        )
    return f"ssh://{host}"


def archive_name(image: str) -> str:
    """The file an image is saved to: frida/agent:0.1.0 -> frida_agent_0.1.0.tar."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", image) + ARCHIVE_SUFFIX


class ImageSource(ABC):
    """Where images are copied from."""

    @abstractmethod
    def image_id(self, image: str) -> str:
        """The image's id (sha256:...); DockerError saying what to do when it is missing."""

    @abstractmethod
    @contextmanager
    def stream(self, images: Sequence[str]) -> Iterator[IO[bytes]]:
        """The images as one `docker save` tar stream (one of `batches`)."""

    def batches(self, images: Sequence[str]) -> list[list[str]]:
        """How `images` are streamed: all in one (layers they share go once) by default."""
        return [list(images)]

    @abstractmethod
    def describe(self) -> str: ...


class DaemonSource(ImageSource):
    """Images a Docker daemon has (streamed out with `docker save`)."""

    def __init__(self, docker: DockerCli) -> None:
        self.docker = docker

    def image_id(self, image: str) -> str:
        found = self.docker.inspect("image", [image])
        if not found:
            raise DockerError(
                f"image {image} is not on {self.docker.where}: run `frida images build` first"
            )
        return str(found[0]["Id"])

    @contextmanager
    def stream(self, images: Sequence[str]) -> Iterator[IO[bytes]]:
        save = subprocess.Popen(
            self.docker.argv("save", *images), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert save.stdout is not None
        try:
            yield save.stdout
        finally:
            save.stdout.close()
            try:
                _, err = save.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                save.kill()
                _, err = save.communicate()
        if save.returncode not in (0, -13, 141):  # a reader that stopped early: SIGPIPE
            raise DockerError(
                f"docker save {' '.join(images)} on {self.docker.where} failed:"
                f" {err.decode(errors='replace').strip()}"
            )

    def describe(self) -> str:
        return f"the Docker daemon at {self.docker.where}"


def archive_image_id(path: Path) -> str:
    """The id of the image in a `docker save` archive: the digest of its config, named in
    manifest.json ("<hex>.json" in the classic layout, "blobs/sha256/<hex>" in OCI)."""
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise DockerError(f"{path} is not a docker save archive (no manifest.json)")
        manifest = json.load(member)
    config = str(manifest[0]["Config"])
    digest = config.rsplit("/", 1)[-1].removesuffix(".json")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise DockerError(f"{path}: unexpected image config name {config!r} in manifest.json")
    return f"sha256:{digest}"


class ArchiveSource(ImageSource):
    """Archives written by `frida images save DIR` (one `docker save` tar per image)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, image: str) -> Path:
        path = self.directory / archive_name(image)
        if not path.is_file():
            raise DockerError(
                f"{path} is missing: run `frida images save {self.directory}`"
                f" where Docker has {image}"
            )
        return path

    def image_id(self, image: str) -> str:
        return archive_image_id(self._path(image))

    def batches(self, images: Sequence[str]) -> list[list[str]]:
        return [[image] for image in images]  # one archive per image

    @contextmanager
    def stream(self, images: Sequence[str]) -> Iterator[IO[bytes]]:
        (image,) = images
        with self._path(image).open("rb") as fh:
            yield fh

    def describe(self) -> str:
        return f"the archives in {self.directory}"


def save_images(
    images: Sequence[str],
    source: DockerCli,
    directory: Path,
    progress: Callable[[str], None] = print,
) -> list[Path]:
    """`docker save` each image to DIR/<name>.tar (what ArchiveSource reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for image in images:
        DaemonSource(source).image_id(image)  # a clear error for a missing image
        path = directory / archive_name(image)
        tmp = path.with_suffix(".partial")
        progress(f"saving {image} to {path}")
        source.run("save", "-o", str(tmp), image, timeout=TRANSFER_TIMEOUT_S)
        tmp.replace(path)
        written.append(path)
    return written


def load_images(
    images: Sequence[str],
    target: DockerCli,
    source: ImageSource,
    progress: Callable[[str], None] = print,
) -> list[str]:
    """Load into `target` the images it lacks (or holds under another id); which were."""
    missing = [
        img
        for img in images
        if [i.get("Id") for i in target.inspect("image", [img])] != [source.image_id(img)]
    ]
    if not missing:
        progress(f"{target.where}: images up to date")
        return []
    for batch in source.batches(missing):
        started = time.monotonic()
        names = ", ".join(batch)
        progress(f"{target.where}: loading {names} from {source.describe()}")
        with source.stream(batch) as stream:
            target.run("load", "-q", stdin=stream, timeout=TRANSFER_TIMEOUT_S)
        progress(f"{target.where}: {names} loaded in {time.monotonic() - started:.0f}s")
    return missing


def push_images(
    images: Sequence[str],
    targets: Sequence[str],
    source: DockerCli,
    progress: Callable[[str], None] = print,
) -> None:
    """Load `images` from the `source` daemon into every target daemon (skipping up to date)."""
    origin = DaemonSource(source)
    for image in images:
        origin.image_id(image)
    for target in targets:
        remote = DockerCli(docker_target(target))
        remote.ping()
        load_images(images, remote, origin, progress)
