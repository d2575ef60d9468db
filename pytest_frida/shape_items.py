"""Items of capacity tests with cluster shapes (config.shapes): their parametrisation by
shape, the shape an item runs on, and the order that starts each shape's cluster once."""

from __future__ import annotations

import pytest

from pytest_frida.config import ClusterSettings, FridaSettings, Shape, StepPlan


def item_shape(item: pytest.Item) -> Shape | None:
    """The shape an item runs on, None for the session's cluster."""
    shape = getattr(getattr(item, "callspec", None), "params", {}).get("frida_shape")
    return shape if isinstance(shape, Shape) else None


#: fixtures of the session's own cluster, which a test with shapes must not ask for
_SESSION_CLUSTER_FIXTURES = ("frida_cluster", "frida_bootstrap", "frida_runner")


def parametrize_shapes(metafunc: pytest.Metafunc, shapes: tuple[Shape, ...]) -> None:
    """One item per shape and producer count, a shape's counts together (`shape=3b-12p`
    in the node id, before the count)."""
    session = [f for f in _SESSION_CLUSTER_FIXTURES if f in metafunc.fixturenames]
    if session:
        pytest.fail(
            f"{metafunc.definition.nodeid}: a test with cluster shapes runs on its shape's"
            f" cluster, not the session's: use frida_step.cluster instead of"
            f" {', '.join(session)}",
            pytrace=False,
        )
    if "frida_shape" not in metafunc.fixturenames:
        metafunc.fixturenames.append("frida_shape")
    metafunc.parametrize("frida_shape", shapes, ids=[f"shape={s.label}" for s in shapes])


def _item_cluster(item: pytest.Item, settings: FridaSettings) -> ClusterSettings:
    """The cluster an item runs on: its shape's, else the session's."""
    shape = item_shape(item)
    marker = item.get_closest_marker("capacity")
    if shape is None or marker is None:
        return settings.cluster
    return settings.shaped(settings.plan_for(dict(marker.kwargs)), shape).cluster


def clusters_needed(items: list[pytest.Item], settings: FridaSettings) -> list[ClusterSettings]:
    """The clusters the items need, in the order first needed."""
    clusters: list[ClusterSettings] = []
    for item in items:
        cluster = _item_cluster(item, settings)
        if cluster not in clusters:
            clusters.append(cluster)
    return clusters


def order_by_cluster(items: list[pytest.Item], settings: FridaSettings) -> list[pytest.Item]:
    """Items grouped by the cluster they need, in the order each cluster is first needed
    (stable within a group): each shape's cluster starts once, one at a time."""
    clusters = clusters_needed(items, settings)
    rank = [clusters.index(_item_cluster(item, settings)) for item in items]
    return [item for _, _, item in sorted(zip(rank, range(len(items)), items, strict=True))]


def item_plan(item: pytest.Item, settings: FridaSettings, marker: pytest.Mark) -> StepPlan:
    """The plan an item's steps run, on its shape if it has one."""
    plan = settings.plan_for(dict(marker.kwargs))
    shape = item_shape(item)
    return settings.shaped(plan, shape).plan if shape is not None else plan
