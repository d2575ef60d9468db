"""The choice of runtime on a multi-node site, which --frida-runtime names.

`swarm` forms a Docker swarm across the nodes and deploys the stacks (sites/node_swarm.py);
`ssh` runs brokers and agents as processes over SSH (sites/remote.py). Both implement
`sites.nodes.NodeDeployment`; this module is the only one that knows both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.sites.nodes import GrowNodes, NodeAccess, NodeDeployment, Roles


def check_before_reserving(settings: ClusterSettings) -> None:
    """What the runtime needs from this machine (images, Kafka jars), checked before any node
    is reserved, so a missing piece costs no reservation."""
    if settings.runtime == "ssh":
        from pytest_frida.kafka import distribution

        distribution.resolve(settings.kafka_version, settings.kafka_home)
    else:
        from pytest_frida.sites.node_swarm import check_swarm_runtime

        check_swarm_runtime(settings)


def deployment_for(
    settings: ClusterSettings,
    run_dir: Path,
    run_id: str,
    access: NodeAccess,
    roles: Roles,
    notify: Callable[[str], None],
    grow: GrowNodes | None = None,
) -> NodeDeployment:
    """The deployment --frida-runtime names."""
    if settings.runtime == "ssh":
        from pytest_frida.sites.remote import RemoteKafka

        return RemoteKafka(settings, run_dir, run_id, access, roles, notify)
    from pytest_frida.sites.node_swarm import SwarmOnNodes

    return SwarmOnNodes(settings, run_dir, run_id, access, roles, notify, grow)
