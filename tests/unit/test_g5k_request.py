"""What a Grid'5000 request may ask, from the APIs' facts, and OAR's walltime in both
versions' `oarstat -f` formats: no execo, no network."""

from __future__ import annotations

import pytest

from pytest_frida.sites.g5k_reference import frontend_site
from pytest_frida.sites.g5k_request import (
    ClusterFacts,
    RequestError,
    check_node_count,
    choose_queue,
    clusters_in_queue,
    node_states,
    usable_hosts,
)
from pytest_frida.sites.g5k_time import walltime_field_s

UVB = ClusterFacts("uvb", ("admin", "default"), ("uvb-9", "uvb-10", "uvb-11"))
PROD = ClusterFacts("esterel", ("production", "admin"), ("esterel-1", "esterel-2"))


def test_without_a_cluster_besteffort_may_land_on_any_and_other_queues_on_theirs() -> None:
    assert clusters_in_queue([UVB, PROD], "besteffort") == [UVB, PROD]
    assert clusters_in_queue([UVB, PROD], "default") == [UVB]
    assert clusters_in_queue([UVB, PROD], "production") == [PROD]
    assert clusters_in_queue([UVB, PROD], "testing") == []


def test_a_default_cluster_goes_to_oars_default_queue() -> None:
    assert choose_queue(UVB, None) is None
    assert choose_queue(UVB, "default") is None
    # besteffort is a job type every cluster takes: the reference API never lists it
    assert choose_queue(UVB, "besteffort") == "besteffort"
    assert choose_queue(PROD, "besteffort") == "besteffort"


def test_a_production_cluster_goes_to_the_production_queue() -> None:
    assert choose_queue(PROD, None) == "production"
    assert choose_queue(PROD, "production") == "production"


def test_a_queue_the_cluster_is_not_in_is_refused_naming_the_right_one() -> None:
    with pytest.raises(
        RequestError,
        match=r"^--frida-queue=default: cluster esterel takes"
        r" jobs in the production queue, not default$",
    ):
        choose_queue(PROD, "default")
    with pytest.raises(RequestError, match="takes no user jobs"):
        choose_queue(ClusterFacts("adm", ("admin",), ()), None)


def test_node_states_from_the_status_document() -> None:
    doc = {
        "nodes": {
            "uvb-9.sophia.grid5000.fr": {"hard": "alive", "soft": "free"},
            "uvb-10.sophia.grid5000.fr": {"hard": "Dead", "soft": "unknown"},
        },
        "disks": {},
    }
    assert node_states(doc) == {"uvb-9": "alive", "uvb-10": "dead"}
    assert node_states(None) == node_states({"nodes": []}) == node_states({}) == {}


def test_only_alive_nodes_are_usable_and_unlisted_ones_count() -> None:
    usable, down = usable_hosts(UVB.hosts, {"uvb-10": "dead", "uvb-11": "suspected"})
    assert usable == ["uvb-9"] and down == {"uvb-10": "dead", "uvb-11": "suspected"}
    assert usable_hosts(UVB.hosts, {})[0] == list(UVB.hosts)


def test_a_request_beyond_the_usable_nodes_is_refused_naming_them() -> None:
    check_node_count(3, "cluster uvb", UVB.hosts, {})
    check_node_count(2, "cluster uvb", UVB.hosts, {"uvb-11": "dead"})
    with pytest.raises(RequestError, match=r"^4 nodes asked of cluster uvb, which has 3$"):
        check_node_count(4, "cluster uvb", UVB.hosts, {})
    with pytest.raises(
        RequestError,
        match=r"^3 nodes asked of cluster uvb, which has 2 of 3"
        r" usable now \(status API: uvb-11 dead\)$",
    ):
        check_node_count(3, "cluster uvb", UVB.hosts, {"uvb-11": "dead"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("    walltime = 1:0:0\n", 3600),  # OAR 2.5
        ("    walltime = 2:30:5\n", 9005),
        ("    walltime = 5400\n", 5400),  # OAR 3
        ("    wanted_resources = -l walltime=1:0:0\n", None),
    ],
)
def test_walltime_in_both_oarstat_formats(text: str, seconds: int | None) -> None:
    assert walltime_field_s("id: 1\n    state = Running\n" + text) == seconds


@pytest.mark.parametrize(
    ("hostname", "site"),
    [
        ("fsophia", "sophia"),
        ("fsophia.sophia.grid5000.fr", "sophia"),
        ("fnancy.nancy.grid5000.fr", "nancy"),
        ("uvb-9.sophia.grid5000.fr", "sophia"),
        ("fmars", None),
        ("frodo", None),
        ("ci-runner-12", None),
        ("localhost", None),
    ],
)
def test_the_frontends_site_from_its_host_name(hostname: str, site: str | None) -> None:
    assert frontend_site(hostname) == site
