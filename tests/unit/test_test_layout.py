"""The test tree itself: pytest's default import mode puts every test directory on
``sys.path``, so two test files with one basename stop the whole collection. Checked
here so the fast unit run catches what otherwise fails only the full run."""

from __future__ import annotations

import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_test_module_basenames_are_unique() -> None:
    by_name: dict[str, list[str]] = collections.defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name in ("conftest.py", "__init__.py"):
            continue
        by_name[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a basename: {clashes}"
