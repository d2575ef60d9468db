"""Grid'5000 and hosts settings: parsed and checked before anything is reserved."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_frida.config import SettingsError, build_settings, parse_nodes, parse_walltime
from pytest_frida.runtimes.ssh import RemoteError
from pytest_frida.sites.g5k_time import PARIS, daytime_warning
from pytest_frida.sites.hosts import read_hosts_file
from pytest_frida.sites.nodes import Roles, host_name


def _settings(**cli: str) -> object:
    return build_settings({k.replace("_", "-"): v for k, v in cli.items()}, {})


def test_grid5000_site_builds_a_reservation() -> None:
    s = build_settings(
        {
            "site": "sophia",
            "cluster": "uvb",
            "walltime": "2:30:00",
            "job-type": "exotic,night",
            "reservation": "2026-11-27 19:00:00",
            "brokers": "1",
            "keep": "yes",
        },
        {},
    )
    res = s.cluster.reservation
    assert res is not None
    assert (res.site, res.cluster, res.nodes, res.walltime_s) == ("sophia", "uvb", 3, 9000)
    assert res.job_types == ("exotic", "night") and res.keep
    # a job deployed by hand is the user's: its nodes are used as they are
    assert build_settings(
        {"site": "sophia", "job-type": "deploy", "job-id": "42"}, {}
    ).cluster.reservation.job_types == ("deploy",)  # type: ignore[union-attr]
    assert res.reservation_date == "2026-11-27 19:00:00"
    assert build_settings({"site": "local"}, {}).cluster.reservation is None


@pytest.mark.parametrize(
    ("raw", "seconds"), [("1:00:00", 3600), ("0:30", 1800), ("90", 90), ("12:0:5", 43205)]
)
def test_walltime_forms(raw: str, seconds: int) -> None:
    assert parse_walltime(raw, "--frida-walltime") == seconds


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"site": "sophia", "walltime": "1h"}, "--frida-walltime='1h': expected a walltime like"),
        ({"site": "sophia", "walltime": "0:00:00"}, "--frida-walltime='0:00:00'"),
        ({"site": "sophia", "walltime": "1:75:00"}, "--frida-walltime='1:75:00'"),
        ({"site": "sophia", "nodes": "1"}, "--frida-nodes=1: needs at least --frida-brokers + 1"),
        (
            {"site": "sophia", "reservation": "tomorrow"},
            "--frida-reservation='tomorrow': expected 'YYYY-MM-DD HH:MM[:SS]', Paris time",
        ),
        (
            {"site": "sophia", "reservation": "2026-02-30 19:00"},
            "--frida-reservation='2026-02-30 19:00': day is out of range for month",
        ),
        (
            {"site": "sophia", "reservation": "2026-03-29 02:30"},
            "--frida-reservation='2026-03-29 02:30': no such time in Paris",
        ),
        ({"site": "sophia", "job-type": "night,Bad Type"}, "'Bad Type' is not an OAR job type"),
        (
            {"site": "sophia", "job-type": "night,deploy"},
            "--frida-job-type=deploy: frida uses the nodes' standard environment and does not run"
            " kadeploy3",
        ),
        ({"site": "sophia", "job-id": "x"}, "--frida-job-id='x'"),
        ({"site": "sophia", "g5k-api": "api.grid5000.fr"}, "expected an http(s) URL"),
        ({"site": "Sophia!"}, "expected local, docker, swarm, hosts:FILE or a Grid'5000 site name"),
        ({"site": "hosts:/no/such/file"}, "no such hosts file '/no/such/file'"),
        ({"clock-correction": "maybe"}, "--frida-clock-correction='maybe': expected on or off"),
        ({"ssh-config": "/no/such/config"}, "--frida-ssh-config='/no/such/config': no such file"),
        ({"runtime": "kubernetes"}, "--frida-runtime='kubernetes': unknown; accepted: swarm, ssh"),
        ({"clock-sync": "ntp"}, "--frida-clock-sync='ntp': unknown; accepted: off, chrony, ptpd"),
        (
            {"images": "/no/such/dir"},
            "--frida-images='/no/such/dir': no such directory (write one"
            " with `frida images save DIR`)",
        ),
        ({"producers-per-node": "0"}, "--frida-producers-per-node='0': expected a positive whole"),
        (
            {"producers-per-node": "15"},
            "--frida-producers-per-node=15: expected a multiple of"
            " --frida-producers-per-replica=10",
        ),
    ],
)
def test_bad_grid5000_settings(cli: dict[str, str | None], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        build_settings(cli, {})
    assert message in str(info.value)


def _paris(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=PARIS)


@pytest.mark.parametrize(
    ("start", "hours", "breaks"),
    [
        ("2026-11-26 10:00", 1, False),  # Thursday morning, an hour: fine
        ("2026-11-26 10:00", 10, True),  # runs past 19:00
        ("2026-11-26 17:30", 4, True),  # a late start may not cross 19:00 either
        ("2026-11-26 18:30", 1, True),  # nor a short one
        ("2026-11-26 17:30", 1, False),  # ends 18:30
        ("2026-11-26 20:00", 12, False),  # the night, ends 08:00
        ("2026-11-26 20:00", 14, True),  # ends Friday 10:00
        ("2026-11-27 20:00", 50, False),  # Friday night to Sunday 22:00
        ("2026-11-28 10:00", 48, True),  # Saturday to Monday 10:00
    ],
)
def test_daytime_rules(start: str, hours: int, breaks: bool) -> None:
    assert (daytime_warning(_paris(start), hours * 3600) is not None) is breaks


def test_hosts_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("# brokers first\nkafka-1.example.org\n\nroot@load-1  # a comment\n")
    assert read_hosts_file(path) == ["kafka-1.example.org", "root@load-1"]
    path.write_text("good\nbad host\n")
    with pytest.raises(RemoteError, match=r"hosts:2: 'bad host' is not a host name"):
        read_hosts_file(path)
    path.write_text("a\na\n")
    with pytest.raises(RemoteError, match="listed twice"):
        read_hosts_file(path)
    path.write_text("# nothing\n")
    with pytest.raises(RemoteError, match="no hosts listed"):
        read_hosts_file(path)


def test_node_settings() -> None:
    s = build_settings(
        {
            "site": "sophia",
            "producers-per-replica": "5",
            "producers-per-node": "20",
            "runtime": "ssh",
        },
        {},
    )
    assert (s.cluster.runtime, s.cluster.producers_per_replica, s.cluster.producers_per_node) == (
        "ssh",
        5,
        20,
    )
    defaults = build_settings({"site": "sophia"}, {})
    assert (
        defaults.cluster.runtime,
        defaults.cluster.producers_per_node,
        defaults.cluster.images_dir,
    ) == (
        "swarm",
        None,
        None,
    )


def test_roles() -> None:
    roles = Roles.assign(["a", "b", "c", "d"], 2)
    assert (roles.brokers, roles.producers, roles.consumer) == (["a", "b"], ["c", "d"], "a")
    assert roles.everyone() == ["a", "b", "c", "d"]
    assert host_name("root@load-1") == "load-1" and host_name("load-1") == "load-1"
    with pytest.raises(RemoteError, match="2 host\\(s\\) for 2 broker\\(s\\)"):
        Roles.assign(["a", "b"], 2)
    own = Roles.assign(["a", "b", "c", "d"], 1, consumer_node=True)
    assert (own.brokers, own.consumer, own.producers) == (["a"], "b", ["c", "d"])
    with pytest.raises(
        RemoteError,
        match="2 host\\(s\\) for 1 broker\\(s\\) and a consumer node: at least 3 are needed",
    ):
        Roles.assign(["a", "b"], 1, consumer_node=True)


@pytest.mark.parametrize(
    ("raw", "brokers", "expected"),
    [
        ("", 1, (3, False)),
        ("5", 1, (5, False)),
        ("brokers=1,producers=2", 1, (3, False)),
        ("producers=2, consumer=1", 1, (4, True)),  # brokers from --frida-brokers
        ("brokers=3,consumer=1,producers=4", 3, (8, True)),
        ("consumer=0,producers=1", 1, (2, False)),
    ],
)
def test_nodes_as_a_count_or_per_role(raw: str, brokers: int, expected: tuple[int, bool]) -> None:
    assert parse_nodes(raw, brokers, "--frida-nodes") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "brokers=1,monitoring=1,producers=2",
            "unknown role 'monitoring'; accepted: brokers, consumer, producers",
        ),
        ("brokers=2,producers=2", "brokers=2 but --frida-brokers is 1; give both the same"),
        ("consumer=2,producers=2", "consumer=2: 0 (on the first broker node) or 1"),
        ("brokers=1", "producers=N with N >= 1 is needed"),
        ("producers=two", "producers='two' is not a count"),
        ("producers=1,producers=2", "producers is given twice"),
    ],
)
def test_bad_per_role_nodes(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        build_settings({"site": "sophia", "nodes": raw}, {})
    assert message in str(info.value) and str(info.value).startswith(f"--frida-nodes={raw!r}")


def test_per_role_nodes_reach_the_reservation() -> None:
    res = build_settings(
        {"site": "sophia", "nodes": "brokers=1,consumer=1,producers=2"}, {}
    ).cluster.reservation
    assert res is not None and (res.nodes, res.consumer_node) == (4, True)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("sohpia", "sophia"), ("nanct", "nancy"), ("grenobel", "grenoble"), ("lcoal", "local")],
)
def test_site_typo_is_refused_offline(typed: str, meant: str) -> None:
    """A typo is caught from Grid'5000's site list, before any reference API request (off
    the testbed such a request fails with a connection error, once per test)."""
    with pytest.raises(SettingsError) as err:
        build_settings({"site": typed}, {})
    message = str(err.value)
    assert message.startswith(f"--frida-site={typed!r}: did you mean {meant!r}?")
    assert "sophia" in message and "\n" not in message


@pytest.mark.parametrize("name", ["sophia", "louvain", "strasbourg", "mars"])
def test_listed_and_unlike_site_names_reach_the_reservation(name: str) -> None:
    """Listed sites are accepted; a name unlike every listed one is asked of the reference
    API when the run starts (a site opened since the list was written)."""
    res = build_settings({"site": name}, {}).cluster.reservation
    assert res is not None and res.site == name


def test_node_names_sort_by_their_numbers() -> None:
    """OAR lists a job's nodes through `sort`, which puts uvb-10 before uvb-9; roles go by
    order, so the first broker must be the lowest-numbered node."""
    from pytest_frida.sites.nodes import node_order

    oar = [
        "uvb-10.sophia.grid5000.fr",
        "uvb-11.sophia.grid5000.fr",
        "uvb-12.sophia.grid5000.fr",
        "uvb-9.sophia.grid5000.fr",
    ]
    assert sorted(oar, key=node_order) == [oar[3], *oar[:3]]
    assert sorted(["b-2", "a-10", "a-9"], key=node_order) == ["a-9", "a-10", "b-2"]


def test_reservation_without_seconds_is_a_full_date() -> None:
    res = build_settings(
        {"site": "sophia", "reservation": "2026-12-03 19:00"}, {}
    ).cluster.reservation
    assert res is not None and res.reservation_date == "2026-12-03 19:00:00"


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_reservation_reaches_oar_in_paris_time_from_any_zone(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """execo reads a date string in this machine's zone and writes OAR's in Paris time, so
    19:00 typed on a UTC laptop became 20:00 at the frontend; the Unix time the site hands
    execo is the same instant wherever the controller runs."""
    import time

    from execo_g5k.oar import format_oar_date

    from pytest_frida.sites.g5k_time import reservation_start

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        start = reservation_start("2026-12-03 19:00:00").timestamp()
        assert format_oar_date(start) == "2026-12-03 19:00:00"
        # what handing execo the string did: shifted by the zone's distance from Paris
        assert format_oar_date("2026-12-03 19:00:00") != "2026-12-03 19:00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_node_python_check_passes_here_and_names_an_old_python() -> None:
    import subprocess
    import sys

    from pytest_frida.sites.remote import NODE_PYTHON_CHECK

    here = subprocess.run(
        [sys.executable, "-c", NODE_PYTHON_CHECK],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert here.returncode == 0, here.stderr
    # as Debian 11's 3.9 would see it: the version test is the same expression
    old = subprocess.run(
        [sys.executable, "-c", NODE_PYTHON_CHECK.replace("sys.version_info[:2]", "(3, 9)")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert old.returncode == 1
    assert old.stderr.strip() == "Python 3.9 there; pytest-frida needs 3.10 or later"


def test_a_path_taken_as_a_flags_value_is_named_as_such(tmp_path: Path) -> None:
    """`--frida-plan tests/` hands `tests/` to the option (it takes an optional value):
    the error says so instead of a bare "expected yes or no", and `--frida-keep tests/`
    is refused the same way rather than silently read as no."""
    for name in ("plan", "keep"):
        with pytest.raises(
            SettingsError,
            match=(
                rf"^--frida-{name}='tests/': expected yes or no \(tests/ was taken as its"
                rf" value: put --frida-{name} after the paths, or write --frida-{name}=yes\)$"
            ),
        ):
            build_settings({"site": "sophia", name: "tests/"}, {})
    assert build_settings({"site": "sophia", "keep": "yes"}, {}).cluster.reservation.keep  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match=r"^--frida-keep='maybe': expected yes or no$"):
        build_settings({"site": "sophia", "keep": "maybe"}, {})


def test_a_job_over_the_spring_clock_change_ends_an_hour_later_on_the_wall() -> None:
    # 2026-03-29 02:00 Paris becomes 03:00: Saturday 20:00 plus 37 hours is Monday 10:00
    saturday = dt.datetime(2026, 3, 28, 20, 0, tzinfo=PARIS)
    assert "runs into Mon 09:00" in (daytime_warning(saturday, 37 * 3600) or "")
    assert daytime_warning(saturday, 35 * 3600) is None  # Monday 08:00
