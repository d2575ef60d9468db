"""Building frida's images on this machine, from nothing but Debian, Maven and PyPI packages.

The base is a `debootstrap --variant=minbase` tree turned into an image by `docker import`;
the Kafka, agent and monitoring images are ordinary builds on top of it. Each image carries
a label with a hash of what went into it, so a build is skipped when nothing changed and a
stale image is told apart from a current one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from pytest_frida.errors import FridaSetupError
from pytest_frida.images import (
    AGENT_IMAGE,
    BASE_IMAGE,
    MONITORING_IMAGE,
    RECIPE_LABEL,
    kafka_image,
)
from pytest_frida.kafka import exporter
from pytest_frida.kafka.distribution import KafkaDistribution
from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.stacks import recipe_dir

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "bookworm"
BUILD_TIMEOUT_S = 1200.0
#: the parts of this package that run inside agent replicas (their sources make the recipe):
#: the agent side imports only itself and measure (docs/architecture.md)
AGENT_SOURCES = ("__init__.py", "version.py", "workload", "measure")
#: what the agent image installs besides this package
AGENT_DEPENDENCIES = ("confluent-kafka", "kafka-python", "hdrhistogram", "numpy")

Progress = Callable[[str], None]


class ImageBuildError(FridaSetupError):
    """An image could not be built; the message says which step and why."""


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _files(root: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts)


def package_root() -> Path:
    """The source tree of this package (it holds pyproject.toml)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise ImageBuildError(
            f"{root} is not a pytest-frida source tree: the agent image is"
            " built from a checkout (pip install -e .)"
        )
    return root


def kafka_recipe(dist: KafkaDistribution) -> str:
    """Hash of the Kafka image's recipe files, the release and its jar names."""
    recipe = recipe_dir("kafka")
    parts = [p.read_bytes() for p in _files(recipe)]
    parts.append(dist.version.encode())
    parts.extend(j.name.encode() for j in sorted(dist.libs.glob("*.jar")))
    parts.extend([exporter.EXPORTER_VERSION.encode(), exporter.config_text().encode()])
    return _digest(parts)


def _dependency_versions() -> list[str]:
    pins = []
    for name in AGENT_DEPENDENCIES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _packaging(pyproject: Path) -> bytes:
    """The tables of pyproject.toml that change what the image installs (the project's
    metadata and how it is built), not the checkers' settings beside them."""
    kept, keep = [], True
    for line in pyproject.read_text().splitlines():
        header = line.strip().lstrip("[").split("]")[0] if line.startswith("[") else None
        if header is not None:
            keep = not header.startswith("tool.") or header.startswith("tool.setuptools")
        if keep:
            kept.append(line)
    return "\n".join(kept).encode()


def agent_recipe() -> str:
    """Hash of the agent image's Dockerfile, the agent's sources and its pinned drivers."""
    root = package_root()
    parts = [p.read_bytes() for p in _files(recipe_dir("agent"))]
    for part in AGENT_SOURCES:
        path = root / "pytest_frida" / part
        parts.extend(p.read_bytes() for p in ([path] if path.is_file() else _files(path, "*.py")))
    parts.append(_packaging(root / "pyproject.toml"))
    parts.extend(pin.encode() for pin in _dependency_versions())
    return _digest(parts)


class ImageBuilder:
    """Builds the three images with one Docker daemon, reporting each step."""

    def __init__(
        self, docker: DockerCli, progress: Progress = print, mirror: str = DEBIAN_MIRROR
    ) -> None:
        self.docker = docker
        self.progress = progress
        self.mirror = mirror

    def current(self, image: str, recipe: str) -> bool:
        return self.docker.image_label(image, RECIPE_LABEL) == recipe

    def base(self, force: bool = False) -> str:
        if not force and self.docker.image_label(BASE_IMAGE, RECIPE_LABEL) is not None:
            self.progress(f"{BASE_IMAGE}: present")
            return BASE_IMAGE
        debootstrap = shutil.which("debootstrap")
        if debootstrap is None:
            raise ImageBuildError(
                f"{BASE_IMAGE} needs debootstrap to be made without a"
                " registry: apt-get install debootstrap"
            )
        if os.geteuid() != 0:
            raise ImageBuildError(f"{BASE_IMAGE}: debootstrap needs root")
        with tempfile.TemporaryDirectory(prefix="frida-base-") as tmp:
            tree = Path(tmp) / "root"
            self.progress(f"{BASE_IMAGE}: debootstrap {DEBIAN_SUITE} from {self.mirror}")
            done = subprocess.run(
                [debootstrap, "--variant=minbase", DEBIAN_SUITE, str(tree), self.mirror],
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise ImageBuildError(f"debootstrap failed: {' '.join(tail)}")
            shutil.rmtree(tree / "var/cache/apt/archives", ignore_errors=True)
            (tree / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
            self.progress(f"{BASE_IMAGE}: docker import")
            tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            try:
                self.docker.run(
                    "import",
                    "-c",
                    'CMD ["/bin/bash"]',
                    "-c",
                    f"LABEL {RECIPE_LABEL}={DEBIAN_SUITE}",
                    "-",
                    BASE_IMAGE,
                    stdin=tar.stdout,
                    timeout=BUILD_TIMEOUT_S,
                )
            finally:
                tar.stdout.close()
                tar.wait()
        return BASE_IMAGE

    def _build(
        self, image: str, context: Path, recipe: str, args: dict[str, str] | None = None
    ) -> None:
        self.progress(f"{image}: docker build")
        extra = [a for k, v in (args or {}).items() for a in ("--build-arg", f"{k}={v}")]
        try:
            self.docker.run(
                "build",
                "-q",
                "-t",
                image,
                "--build-arg",
                f"BASE={BASE_IMAGE}",
                "--build-arg",
                f"RECIPE={recipe}",
                *extra,
                str(context),
                timeout=BUILD_TIMEOUT_S,
            )
        except DockerError as exc:
            raise ImageBuildError(f"building {image} failed: {exc}") from exc

    def _from_recipe(
        self,
        name: str,
        image: str,
        recipe: str,
        force: bool,
        fill: Callable[[Path], object],
        args: dict[str, str] | None = None,
    ) -> str:
        """Build `image` from stacks/images/<name> plus what `fill` adds to the context,
        unless an image of the same recipe is there already."""
        if not force and self.current(image, recipe):
            self.progress(f"{image}: up to date")
            return image
        self.base()
        with tempfile.TemporaryDirectory(prefix=f"frida-{name}-image-") as tmp:
            context = Path(tmp)
            shutil.copytree(recipe_dir(name), context, dirs_exist_ok=True)
            fill(context)
            self._build(image, context, recipe, args)
        return image

    def kafka(self, dist: KafkaDistribution, force: bool = False) -> str:
        def fill(context: Path) -> None:
            shutil.copytree(dist.libs, context / "libs")
            self._exporter(context / "jmx-exporter")

        return self._from_recipe(
            "kafka",
            kafka_image(dist.version),
            kafka_recipe(dist),
            force,
            fill,
            {"EXPORTER": exporter.EXPORTER_VERSION},
        )

    def _exporter(self, directory: Path) -> None:
        """The JMX exporter agent and its rules, which the image's run script starts."""
        self.progress(f"JMX exporter {exporter.EXPORTER_VERSION} (Maven Central)")
        try:
            jar = exporter.resolve_agent()
        except KafkaSetupError as exc:
            raise ImageBuildError(f"the Kafka image carries the JMX exporter: {exc}") from exc
        directory.mkdir()
        shutil.copy(jar, directory / exporter.IMAGE_JAR)
        (directory / exporter.IMAGE_CONFIG).write_text(exporter.config_text())

    def monitoring(self, force: bool = False) -> str:
        """Prometheus, the node exporter and InfluxDB for stacks/monitoring.yml."""
        recipe = _digest(p.read_bytes() for p in _files(recipe_dir("monitoring")))
        return self._from_recipe(
            "monitoring", MONITORING_IMAGE, recipe, force, lambda context: None
        )

    def agent(self, force: bool = False) -> str:
        return self._from_recipe("agent", AGENT_IMAGE, agent_recipe(), force, self._wheels)

    def _wheels(self, context: Path) -> None:
        """Wheels of this package and its drivers, so the build needs no PyPI."""
        wheels = context / "wheels"
        self.progress(f"{AGENT_IMAGE}: wheels of pytest-frida and {', '.join(AGENT_DEPENDENCIES)}")
        pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels)]
        for args in (
            [*pip, "--no-deps", "--no-build-isolation", str(package_root())],
            [*pip, *_dependency_versions()],
        ):
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise ImageBuildError(f"pip wheel failed: {' '.join(tail)}")
        # what the image installs: the drivers at this machine's versions (one list,
        # AGENT_DEPENDENCIES, for the wheels, the image and its recipe)
        (wheels / "requirements.txt").write_text("\n".join(_dependency_versions()) + "\n")
