"""WHERE nodes come from. A site yields a running cluster and a way to start agents."""

from __future__ import annotations

from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.errors import FridaSetupError
from pytest_frida.sites.base import Site


def create_site(settings: ClusterSettings, run_dir: Path, run_id: str) -> Site:
    """The site named by --frida-site (names are validated in config already)."""
    if settings.site == "local":
        from pytest_frida.sites.local import LocalSite

        return LocalSite(settings, run_dir)
    if settings.site == "docker":
        try:
            from pytest_frida.sites.docker import DockerSite
        except ImportError as exc:
            raise FridaSetupError(
                f"the docker site needs testcontainers ({exc}): pip install 'pytest-frida[docker]'"
            ) from exc

        return DockerSite(settings, run_dir, run_id)
    if settings.site == "swarm":
        from pytest_frida.sites.swarm import SwarmSite

        return SwarmSite(settings, run_dir, run_id)
    if settings.site == "hosts":
        from pytest_frida.sites.hosts import HostsSite

        return HostsSite(settings, run_dir, run_id)
    if settings.reservation is not None:
        try:
            from pytest_frida.sites.g5k import G5KSite
        except ImportError as exc:
            raise FridaSetupError(
                f"Grid'5000 sites need execo ({exc}): pip install 'pytest-frida[g5k]'"
            ) from exc
        return G5KSite(settings, run_dir, run_id)
    raise ValueError(f"unknown site {settings.site!r}")  # config rejects this earlier
