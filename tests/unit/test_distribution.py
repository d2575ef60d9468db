"""Finding Kafka: version checks, KAFKA_HOME, the cache, and the Maven fallback."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_frida.kafka import distribution
from pytest_frida.kafka.distribution import (
    DEFAULT_KAFKA_VERSION,
    cache_dir,
    from_kafka_home,
    maven_pom,
    resolve,
    validate_version,
)
from pytest_frida.kafka.errors import KafkaSetupError

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@pytest.mark.parametrize("version", ["4.4.0", "3.3.2", "3.9.0", "10.0.0", DEFAULT_KAFKA_VERSION])
def test_validate_version_accepts_releases(version):
    assert validate_version(version) == version


@pytest.mark.parametrize(
    ("version", "needle"),
    [
        ("4.x", "not a release number"),
        ("4.1", "not a release number"),
        ("4.1.0.1", "not a release number"),
        ("v4.1.0", "not a release number"),
        ("", "not a release number"),
        ("4.1.0-rc1", "not a release number"),
        ("2.8.0", "too old"),
        ("0.10.2", "too old"),
    ],
)
def test_validate_version_rejects(version, needle):
    with pytest.raises(ValueError, match=needle) as info:
        validate_version(version)
    assert repr(version) in str(info.value)


def test_validate_version_rejects_trailing_newline():
    with pytest.raises(ValueError, match="is not a release number"):
        validate_version("4.4.0\n")


def make_home(root: Path, jars: list[str]) -> Path:
    (root / "libs").mkdir(parents=True)
    for jar in jars:
        (root / "libs" / jar).write_bytes(b"")
    return root


def test_from_kafka_home(tmp_path):
    home = make_home(
        tmp_path / "kafka_2.13-4.1.0",
        ["kafka-clients-4.1.0.jar", "kafka_2.13-4.1.0.jar", "kafka-tools-4.1.0.jar"],
    )
    dist = from_kafka_home(home)
    assert dist.version == "4.1.0"
    assert dist.source == "kafka-home"
    assert dist.libs == home / "libs"
    assert dist.classpath == str(home / "libs" / "*")
    assert dist.uses_log4j2


def test_from_kafka_home_scala_212_and_log4j1(tmp_path):
    dist = from_kafka_home(make_home(tmp_path, ["kafka_2.12-3.6.1.jar"]))
    assert dist.version == "3.6.1"
    assert not dist.uses_log4j2


def test_from_kafka_home_without_libs(tmp_path):
    with pytest.raises(KafkaSetupError) as info:
        from_kafka_home(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "no libs/ directory" in str(info.value)


def test_from_kafka_home_without_core_jar(tmp_path):
    home = make_home(tmp_path, ["kafka-clients-4.1.0.jar", "kafka_2.13-4.1.0-test.jar"])
    with pytest.raises(KafkaSetupError, match=r"no kafka_2\.13-<version>\.jar"):
        from_kafka_home(home)


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRIDA_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "pytest-frida"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "pytest-frida"
    monkeypatch.setenv("FRIDA_CACHE_DIR", str(tmp_path / "frida"))
    assert cache_dir() == tmp_path / "frida"
    monkeypatch.setenv("FRIDA_CACHE_DIR", "")  # empty means unset
    assert cache_dir() == tmp_path / "xdg" / "pytest-frida"


@pytest.fixture
def no_maven(tmp_path, monkeypatch):
    """No KAFKA_HOME and a PATH without `mvn`."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(empty))


def make_cache_entry(cache: Path, version: str, pom: str | None) -> Path:
    entry = make_home(cache / f"kafka-{version}", ["x.jar"])
    (entry / ".complete").write_text("")
    if pom is not None:
        (entry / "pom.xml").write_text(pom)
    return entry


def test_resolve_uses_the_cache_without_maven(tmp_path, monkeypatch, no_maven):
    cache = tmp_path / "cache"
    make_cache_entry(cache, "9.9.9", maven_pom("9.9.9"))
    monkeypatch.setenv("FRIDA_CACHE_DIR", str(cache))

    def boom(*args, **kwargs):
        raise AssertionError("Maven must not be called for a cached version")

    monkeypatch.setattr(distribution, "_resolve_with_maven", boom)
    dist = resolve("9.9.9")
    assert dist.source == "cache"
    assert dist.version == "9.9.9"
    assert dist.libs == cache / "kafka-9.9.9" / "libs"


@pytest.mark.parametrize(
    ("pom", "complete"),
    [(None, True), ("<project/>", True), ("same", False)],
    ids=["no-pom", "stale-pom", "not-complete"],
)
def test_unusable_cache_entry_is_not_used(tmp_path, monkeypatch, no_maven, pom, complete):
    cache = tmp_path / "cache"
    entry = make_cache_entry(cache, "9.9.9", maven_pom("9.9.9") if pom == "same" else pom)
    if not complete:
        (entry / ".complete").unlink()
    monkeypatch.setenv("FRIDA_CACHE_DIR", str(cache))
    with pytest.raises(KafkaSetupError, match="Maven"):
        resolve("9.9.9")


def test_resolve_without_maven_explains(tmp_path, monkeypatch, no_maven):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FRIDA_CACHE_DIR", str(cache))
    with pytest.raises(KafkaSetupError) as info:
        resolve("9.9.8")
    message = str(info.value)
    assert "Maven" in message
    assert "mvn" in message
    assert "9.9.8" in message
    assert str(cache) in message
    assert not (cache / "kafka-9.9.8").exists()


def test_resolve_prefers_kafka_home(tmp_path, monkeypatch, no_maven):
    home = make_home(tmp_path / "kafka", ["kafka_2.13-4.1.0.jar"])
    monkeypatch.setenv("FRIDA_CACHE_DIR", str(tmp_path / "cache"))
    assert resolve("4.4.0", home).source == "kafka-home"
    monkeypatch.setenv("KAFKA_HOME", str(home))
    dist = resolve("4.4.0")
    assert (dist.source, dist.version) == ("kafka-home", "4.1.0")


def _dependencies(pom: str) -> list[tuple[str | None, str | None, str | None]]:
    root = ET.fromstring(pom)
    return [
        (
            d.findtext("m:groupId", namespaces=POM_NS),
            d.findtext("m:artifactId", namespaces=POM_NS),
            d.findtext("m:version", namespaces=POM_NS),
        )
        for d in root.findall("m:dependencies/m:dependency", POM_NS)
    ]


def test_maven_pom_for_kafka_4():
    pom = maven_pom("4.1.0")
    root = ET.fromstring(pom)  # well-formed XML
    assert root.tag == "{http://maven.apache.org/POM/4.0.0}project"
    assert root.findtext("m:packaging", namespaces=POM_NS) == "pom"
    deps = _dependencies(pom)
    assert ("org.apache.kafka", "kafka_2.13", "4.1.0") in deps
    assert ("org.apache.kafka", "kafka-tools", "4.1.0") in deps
    artifacts = {a for _, a, _ in deps}
    assert "log4j-core" in artifacts
    assert "log4j-slf4j2-impl" in artifacts
    assert "slf4j-reload4j" not in artifacts
    assert all(v for _, _, v in deps)


def test_maven_pom_for_kafka_3():
    deps = _dependencies(maven_pom("3.9.0"))
    artifacts = {a for _, a, _ in deps}
    assert {"kafka_2.13", "kafka-tools", "slf4j-reload4j"} <= artifacts
    assert "log4j-core" not in artifacts
