"""Where the stack files and image recipes live (`stacks/` at the top of the repository)."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_frida.errors import FridaSetupError


class StacksNotFound(FridaSetupError):
    """The stacks directory is missing (an install without the repository)."""


def stacks_dir() -> Path:
    """`$FRIDA_STACKS_DIR`, else the `stacks/` beside the package (a clone or editable install)."""
    explicit = os.environ.get("FRIDA_STACKS_DIR")
    root = Path(explicit) if explicit else Path(__file__).resolve().parents[1] / "stacks"
    if not (root / "kafka.yml").is_file():
        raise StacksNotFound(
            f"no stack files in {root}: set FRIDA_STACKS_DIR to the stacks/"
            " directory of a pytest-frida checkout"
        )
    return root


#: broker counts the stack files hold: kafka.yml, kafka.yml + kafka-3.yml
STACK_BROKER_COUNTS = (1, 3)


def stack_file(name: str) -> Path:
    """One of kafka.yml, load.yml, monitoring.yml."""
    path = stacks_dir() / f"{name}.yml"
    if not path.is_file():
        raise StacksNotFound(f"stack file {path} is missing")
    return path


def recipe_dir(image: str) -> Path:
    """The build context recipe of one image: base, kafka or agent."""
    return stacks_dir() / "images" / image
