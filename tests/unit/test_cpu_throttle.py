"""Reading a CPU quota's throttling from the agent's own cgroup."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_frida.workload import cpu


def test_throttled_share() -> None:
    assert cpu.throttled_share((100, 10), (200, 60)) == pytest.approx(0.5)
    assert cpu.throttled_share(None, (200, 60)) == 0.0
    assert cpu.throttled_share((100, 10), (100, 10)) == 0.0  # no period passed


@pytest.mark.parametrize(
    ("cgroup", "layout"),
    [
        ("0::/agents/c1\n", "agents/c1/cpu.stat"),  # v2
        ("3:cpu,cpuacct:/docker/abc\n0::/\n", "cpu,cpuacct/docker/abc/cpu.stat"),  # v1
    ],
)
def test_meter_reads_its_own_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroup: str, layout: str
) -> None:
    stat = tmp_path / layout
    stat.parent.mkdir(parents=True)
    stat.write_text("nr_periods 40\nnr_throttled 30\nthrottled_time 123\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text(cgroup)
    real = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if str(self) == "/proc/self/cgroup":
            return real(proc)
        return real(self)

    monkeypatch.setattr(cpu, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(Path, "read_text", read_text)
    assert cpu.ThrottleMeter().read() == (40, 30)


def test_meter_without_a_quota_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu, "CGROUP_ROOT", tmp_path)
    assert cpu.ThrottleMeter().read() is None
