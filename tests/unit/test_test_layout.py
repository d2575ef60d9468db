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


def test_shared_helpers_are_a_package_not_a_path_insert() -> None:
    """What folders share lives in tests/helpers, imported through pytest's `pythonpath`;
    a sys.path insert in a test file would make its imports depend on collection order."""
    inserts = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if "sys.path.insert" in path.read_text() and path.name != Path(__file__).name
    ]
    assert not inserts, f"sys.path inserts in {inserts}: put shared code in tests/helpers"
    assert (TESTS / "helpers" / "__init__.py").is_file()
