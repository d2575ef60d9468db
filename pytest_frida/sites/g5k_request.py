"""What a Grid'5000 job request may ask, decided from the reference and status APIs' facts
alone (no execo, no network): the OAR queue of a cluster and the nodes OAR can give.

On the testbed a cluster belongs to queues (`default`, or `production` for most of some
sites' clusters) and OAR refuses, or never schedules, a job whose properties match no
resource of the queue it was submitted to; a node the status API marks dead, absent or
suspected is never handed out. Checking both before `oarsub` turns a job that would wait
forever into a one-line error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_frida.errors import FridaSetupError

#: the queues a job can be submitted to without an admin's say (besteffort is a job type
#: on Grid'5000, and a queue of its own in OAR)
USER_QUEUES = ("default", "production", "besteffort")


class RequestError(FridaSetupError):
    """A request the testbed cannot grant, found before reserving."""


@dataclass(frozen=True)
class ClusterFacts:
    """One cluster as the reference API describes it."""

    name: str
    #: the OAR queues it takes jobs in (the API's `queues`)
    queues: tuple[str, ...]
    #: its nodes' short names (uvb-9)
    hosts: tuple[str, ...]


def choose_queue(cluster: ClusterFacts, asked: str | None) -> str | None:
    """The queue to submit to: the one asked when the cluster is in it (besteffort always);
    else None (OAR's default queue) when the cluster is there, else the first user queue
    it is in."""
    if asked == "besteffort":
        return asked  # every cluster takes besteffort jobs; the API's queues never list it
    if asked:
        if asked not in cluster.queues:
            raise RequestError(
                f"--frida-queue={asked}: cluster {cluster.name} takes jobs in the"
                f" {_listed(q for q in cluster.queues if q in USER_QUEUES)} queue, not"
                f" {asked}"
            )
        return None if asked == "default" else asked
    if "default" in cluster.queues:
        return None
    for queue in USER_QUEUES:
        if queue in cluster.queues:
            return queue
    raise RequestError(
        f"cluster {cluster.name} takes no user jobs (its queues:"
        f" {', '.join(cluster.queues) or 'none'})"
    )


def clusters_in_queue(clusters: Sequence[ClusterFacts], queue: str) -> list[ClusterFacts]:
    """The clusters a job in `queue` may land on when no cluster is named: those the
    reference API lists in it, and for besteffort every one (the API never lists it)."""
    if queue == "besteffort":
        return list(clusters)
    return [c for c in clusters if queue in c.queues]


def node_states(status: Mapping[str, Any] | None) -> dict[str, str]:
    """Short node name -> its `hard` state, from a status API document
    (`{"nodes": {"uvb-9.sophia.grid5000.fr": {"hard": "alive", ...}}}`); {} when the
    document says nothing usable."""
    nodes = status.get("nodes") if isinstance(status, Mapping) else None
    if not isinstance(nodes, Mapping):
        return {}
    return {
        str(name).split(".", 1)[0]: str(doc.get("hard", "")).lower()
        for name, doc in nodes.items()
        if isinstance(doc, Mapping)
    }


def usable_hosts(
    hosts: Sequence[str], states: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """(nodes OAR may hand out, {node: state} of the others). A node the status API does
    not list counts as usable: the API lags behind new nodes, never ahead of dead ones."""
    usable = [h for h in hosts if states.get(h, "alive") == "alive"]
    return usable, {h: states[h] for h in hosts if states.get(h, "alive") != "alive"}


def check_node_count(
    wanted: int, where: str, hosts: Sequence[str], states: Mapping[str, str]
) -> None:
    """Refuse a request for more nodes than `where` (a cluster, a queue) can give now."""
    usable, down = usable_hosts(hosts, states)
    if wanted <= len(usable):
        return
    if not down:
        raise RequestError(f"{wanted} nodes asked of {where}, which has {len(hosts)}")
    downs = ", ".join(f"{h} {s or 'unknown'}" for h, s in sorted(down.items()))
    raise RequestError(
        f"{wanted} nodes asked of {where}, which has {len(usable)} of"
        f" {len(hosts)} usable now (status API: {downs})"
    )


def _listed(items: Any) -> str:
    names = list(items)
    return " or ".join(names) if names else "no user"
