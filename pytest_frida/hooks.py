"""The hooks pytest-frida adds to pytest's, for conftest files and other plugins.

`pytest_frida_make_site` plugs in a site of your own (a test double, a testbed this
package does not know) without patching any module: the first implementation that
answers wins, and pytest-frida's own answer, last, is the site `--frida-site` names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_frida.config import ClusterSettings
    from pytest_frida.sites.base import Site


@pytest.hookspec(firstresult=True)
def pytest_frida_make_site(settings: ClusterSettings, run_dir: Path, run_id: str) -> Site | None:
    """The site a session (or `--frida-plan`) asks for its cluster, made but not started:
    the session calls its `start()` when a test first needs Kafka. `run_dir` is where the
    run writes; `run_id` names what the site makes. Return None to leave the choice to the
    next implementation."""
