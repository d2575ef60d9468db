"""Finding Apache Kafka to run: an unpacked distribution, our cache, or Maven Central.

Resolution order: `--frida-kafka-home` / `KAFKA_HOME`, then the per-user cache
(`$FRIDA_CACHE_DIR`, else `$XDG_CACHE_HOME/pytest-frida`, else `~/.cache/pytest-frida`),
then the release's jars resolved transitively from Maven Central with Maven into that cache.
No tarball download is needed: the jars on Maven Central are the same code.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.kafka.errors import KafkaSetupError

#: The newest Apache Kafka release on Maven Central when this was written.
DEFAULT_KAFKA_VERSION = "4.4.0"
SCALA_BINARY = "2.13"
_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_CORE_JAR = re.compile(r"^kafka_(?P<scala>2\.1[23])-(?P<version>[0-9]+\.[0-9]+\.[0-9]+)\.jar$")
_MAVEN_TIMEOUT_S = 900


@dataclass(frozen=True)
class KafkaDistribution:
    """Jars of one Kafka release and where they came from."""

    version: str
    libs: Path
    source: str  # "kafka-home", "cache" or "maven"

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")

    @property
    def uses_log4j2(self) -> bool:
        return int(self.version.split(".", 1)[0]) >= 4


def validate_version(version: str) -> str:
    if not _VERSION_RE.fullmatch(version):
        raise ValueError(
            f"Kafka version {version!r} is not a release number like {DEFAULT_KAFKA_VERSION}"
        )
    if int(version.split(".", 1)[0]) < 3:
        raise ValueError(f"Kafka version {version!r} is too old: KRaft needs 3.3 or later")
    return version


def cache_dir() -> Path:
    explicit = os.environ.get("FRIDA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pytest-frida"


def from_kafka_home(home: Path) -> KafkaDistribution:
    """An unpacked Apache Kafka (the directory that holds libs/ and bin/)."""
    libs = home / "libs"
    if not libs.is_dir():
        raise KafkaSetupError(
            f"Kafka home {home} has no libs/ directory; expected an unpacked"
            " Apache Kafka release (kafka_2.13-X.Y.Z)"
        )
    for jar in sorted(libs.glob("kafka_*.jar")):
        m = _CORE_JAR.match(jar.name)
        if m:
            return KafkaDistribution(version=m["version"], libs=libs, source="kafka-home")
    raise KafkaSetupError(f"Kafka home {home}: no kafka_2.13-<version>.jar in {libs}")


def _cached(version: str, root: Path) -> KafkaDistribution | None:
    """The cached jars, if complete and resolved from the POM this version of us writes."""
    home = root / f"kafka-{version}"
    libs = home / "libs"
    try:
        same_recipe = (home / "pom.xml").read_text() == maven_pom(version)
    except OSError:
        same_recipe = False
    if same_recipe and (home / ".complete").exists() and any(libs.glob("*.jar")):
        return KafkaDistribution(version=version, libs=libs, source="cache")
    return None


def resolve(version: str, kafka_home: Path | None = None) -> KafkaDistribution:
    """Find or fetch the distribution to run (see module docstring for the order)."""
    home = kafka_home or (Path(os.environ["KAFKA_HOME"]) if os.environ.get("KAFKA_HOME") else None)
    if home is not None:
        return from_kafka_home(home)
    root = cache_dir()
    found = _cached(version, root)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with cache_lock(root / f"kafka-{version}.lock"):
        found = _cached(version, root)  # another process may have finished meanwhile
        if found is not None:
            return found
        return _resolve_with_maven(version, root / f"kafka-{version}")


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def maven_pom(version: str) -> str:
    """A throw-away POM whose runtime dependencies are a runnable broker plus Kafka's tools."""
    if int(version.split(".", 1)[0]) >= 4:
        # kafka-clients declares slf4j-api 1.7 for old users; the broker logs through SLF4J 2
        logging = [
            ("org.slf4j", "slf4j-api", "2.0.17"),
            ("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.24.3"),
            ("org.apache.logging.log4j", "log4j-core", "2.24.3"),
        ]
    else:
        logging = [("org.slf4j", "slf4j-reload4j", "1.7.36")]
    deps = [
        ("org.apache.kafka", f"kafka_{SCALA_BINARY}", version),
        ("org.apache.kafka", "kafka-tools", version),
        *logging,
    ]
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>\n"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>\n'
        f"<groupId>pytest-frida</groupId><artifactId>kafka-runtime</artifactId>"
        f"<version>{version}</version><packaging>pom</packaging>\n"
        f"<dependencies>\n{body}</dependencies></project>\n"
    )


def _resolve_with_maven(version: str, target: Path) -> KafkaDistribution:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError(
            f"Kafka {version} is not in the cache {target.parent} and Maven (`mvn`) is not on"
            " PATH to fetch it; install Maven (`apt-get install maven`), or point"
            " --frida-kafka-home / KAFKA_HOME at an unpacked Apache Kafka"
        )
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "pom.xml").write_text(maven_pom(version))
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(staging / "pom.xml"),
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        f"-DoutputDirectory={staging / 'libs'}",
        "-DincludeScope=runtime",
    ]
    print(
        f"pytest-frida: resolving Apache Kafka {version} jars from Maven Central"
        f" into {target} (once per version)...",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaSetupError(
            f"Maven did not resolve Kafka {version} within"
            f" {_MAVEN_TIMEOUT_S}s; check network access to Maven Central"
            " or your ~/.m2/settings.xml mirror"
        ) from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise KafkaSetupError(
            f"Maven could not resolve org.apache.kafka:kafka_{SCALA_BINARY}:{version}"
            f" (is it a published release?). Maven said:\n{tail}"
        )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / ".complete").write_text(f"resolved in {time.monotonic() - started:.1f}s\n")
    return KafkaDistribution(version=version, libs=target / "libs", source="maven")
