"""The agent image's recipe changes with what the image installs, not with the checkers'
settings beside it in pyproject.toml (a stale image would make every docker test build)."""

from __future__ import annotations

from pathlib import Path

from pytest_frida.images.build import _packaging

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]

[project]
name = "pytest-frida"
dependencies = ["pytest>=8"]

[tool.setuptools.packages.find]
include = ["pytest_frida*"]

[tool.ruff]
line-length = 100

[tool.mypy]
strict = true
"""


def _digest_of(tmp_path: Path, text: str) -> bytes:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return _packaging(path)


def test_the_checkers_settings_leave_the_recipe_alone(tmp_path: Path) -> None:
    before = _digest_of(tmp_path, PYPROJECT)
    after = _digest_of(
        tmp_path, PYPROJECT.replace("line-length = 100", "line-length = 88") + "[tool.x]\ny = 1\n"
    )
    assert before == after


def test_what_the_image_installs_changes_the_recipe(tmp_path: Path) -> None:
    before = _digest_of(tmp_path, PYPROJECT)
    for changed in (
        PYPROJECT.replace("pytest>=8", "pytest>=9"),
        PYPROJECT.replace('"setuptools>=68"', '"setuptools>=70"'),
        PYPROJECT.replace('"pytest_frida*"', '"pytest_frida"'),
    ):
        assert _digest_of(tmp_path, changed) != before
