"""Finding a Java runtime and checking it is recent enough for the chosen Kafka."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.kafka.errors import KafkaSetupError

_VERSION = re.compile(r'version "(?P<v>[0-9][^"]*)"')


@dataclass(frozen=True)
class JavaRuntime:
    executable: Path
    major: int
    version: str


def required_java_major(kafka_version: str) -> int:
    """Kafka 4.x brokers need Java 17; 3.x runs on 11 (and 8, deprecated)."""
    major = int(kafka_version.split(".", 1)[0])
    return 17 if major >= 4 else 11


def find_java() -> Path:
    """$JAVA_HOME/bin/java when JAVA_HOME is set, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file():
            return candidate
        raise KafkaSetupError(
            f"JAVA_HOME={home} has no bin/java; point JAVA_HOME at a JDK/JRE or unset it"
        )
    found = shutil.which("java")
    if found is None:
        raise KafkaSetupError(
            "no Java runtime found (no JAVA_HOME, no `java` on PATH); install Java 17 or later,"
            " e.g. `apt-get install openjdk-17-jre-headless`"
        )
    return Path(found)


def parse_java_version(output: str) -> tuple[int, str]:
    """(major, full) from `java -version` output: '1.8.0_392' -> 8, '17.0.15' -> 17."""
    m = _VERSION.search(output)
    if m is None:
        raise KafkaSetupError(f"cannot read a Java version from `java -version`: {output[:200]!r}")
    full = m["v"]
    parts = re.split(r"[.+_-]", full)
    major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])
    return major, full


def java_runtime(kafka_version: str) -> JavaRuntime:
    """The Java to run `kafka_version` with; a clear error when missing or too old."""
    exe = find_java()
    try:
        proc = subprocess.run(
            [str(exe), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaSetupError(f"cannot run {exe} -version: {exc}") from exc
    major, full = parse_java_version(proc.stderr + proc.stdout)
    need = required_java_major(kafka_version)
    if major < need:
        raise KafkaSetupError(
            f"Kafka {kafka_version} needs Java {need} or later, but {exe} is Java {full};"
            f" install a newer JDK and set JAVA_HOME, or choose an older --frida-kafka-version"
        )
    return JavaRuntime(executable=exe, major=major, version=full)


def too_old(kafka_version: str, version_output: str, where: str) -> str | None:
    """Why the Java that printed `version_output` (`java -version`) cannot run
    `kafka_version`, naming `where` it is; None when it can."""
    major, full = parse_java_version(version_output)
    need = required_java_major(kafka_version)
    if major >= need:
        return None
    return f"{where} has Java {full}; Kafka {kafka_version} needs Java {need} or later"
