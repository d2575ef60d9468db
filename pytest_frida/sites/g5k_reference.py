"""What Grid'5000's reference and status APIs say of a reservation before it is made,
read through execo: this frontend's site, the site's clusters and their queues, the nodes
that are alive. The decisions on those facts are g5k_request's."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

from pytest_frida.config import G5K_SITES, Reservation
from pytest_frida.sites.g5k_execo import ReservationError
from pytest_frida.sites.g5k_request import (
    ClusterFacts,
    check_node_count,
    choose_queue,
    clusters_in_queue,
    node_states,
)


def frontend_site(hostname: str) -> str | None:
    """The Grid'5000 site whose frontend this machine is, from its host name (fsophia, or
    fsophia.sophia.grid5000.fr as execo reads it), or None elsewhere: OAR commands run
    here reserve at this site, whatever --frida-site says."""
    m = re.fullmatch(r"[^.]+\.([a-z]+)\.grid5000\.fr", hostname)
    if m and m.group(1) in G5K_SITES:
        return m.group(1)
    short = hostname.split(".", 1)[0]
    return short[1:] if short.startswith("f") and short[1:] in G5K_SITES else None


def cluster_facts(g5k: Any, name: str) -> ClusterFacts:
    """A cluster's queues and hosts from the reference API."""
    attributes = g5k.get_cluster_attributes(name)
    # execo's own rule for a cluster whose description names no queues
    queues = attributes.get("queues") or ["admin", "default", "besteffort"]
    return ClusterFacts(name, tuple(queues), tuple(g5k.get_cluster_hosts(name)))


def read_node_states(site: str, notify: Callable[[str], None]) -> dict[str, str]:
    """Node states from the status API; {} (every node counted) when it does not
    answer, said once."""
    from execo_g5k.api_utils import get_resource_attributes

    try:
        return node_states(get_resource_attributes(f"/sites/{site}/status"))
    except Exception as exc:  # any failure: the look-up only narrows the check
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        notify(
            f"frida: warning: node states unknown (the status API of {site}:"
            f" {why}); dead nodes are not ruled out"
        )
        return {}


def check_reference(g5k: Any, res: Reservation, notify: Callable[[str], None]) -> str | None:
    """Site, cluster, queue and node count against the reference and status APIs,
    before reserving. Returns the queue to submit to (None: OAR's default)."""
    from execo_g5k.config import g5k_configuration

    if res.api_url:
        g5k_configuration["api_uri"] = res.api_url
    here = g5k_configuration.get("default_frontend") or frontend_site(socket.gethostname())
    if here and here != res.site:
        raise ReservationError(
            f"--frida-site={res.site} on {here}'s frontend: OAR here reserves at"
            f" {here}. Run from {res.site}'s frontend (ssh {res.site}), or"
            f" use --frida-site={here}"
        )
    try:
        sites = g5k.get_g5k_sites()
    except Exception as exc:
        raise ReservationError(
            f"the Grid'5000 reference API did not answer ({g5k_configuration['api_uri']}): {exc}"
        ) from exc
    site = res.site
    if site not in sites:
        raise ReservationError(
            f"unknown Grid'5000 site {site!r}; known: {', '.join(sorted(sites))}"
        )
    names = g5k.get_site_clusters(site, queues=None)
    if res.cluster and res.cluster not in names:
        raise ReservationError(
            f"site {site} has no cluster {res.cluster!r}; it has: {', '.join(sorted(names))}"
        )
    states = read_node_states(site, notify)
    if res.cluster:
        cluster = cluster_facts(g5k, res.cluster)
        queue = choose_queue(cluster, res.queue)
        if queue:
            notify(
                f"frida: cluster {cluster.name} is in the {queue} queue: submitting with -q {queue}"
            )
        check_node_count(res.nodes, f"cluster {cluster.name}", cluster.hosts, states)
        return queue
    wanted = res.queue or "default"
    in_queue = clusters_in_queue([cluster_facts(g5k, name) for name in sorted(names)], wanted)
    if not in_queue:
        raise ReservationError(f"--frida-queue={wanted}: site {site} has no cluster in that queue")
    check_node_count(
        res.nodes,
        f"the {wanted} queue of {site} ({', '.join(c.name for c in in_queue)})",
        [h for c in in_queue for h in c.hosts],
        states,
    )
    return None if wanted == "default" else wanted
