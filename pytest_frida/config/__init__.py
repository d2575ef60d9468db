"""One validated settings object, built from command line, ini file and markers.

Configuration flows one way: pytest options and ini keys -> `FridaSettings` (validated
once, in pytest_configure, before any broker starts) -> `StepPlan` per test (marker values
merged in) -> the parts that need them. Precedence: command line > marker > ini > default.

`options` declares every option with its own parser (from `values`, `option_parsers` or
`grid5000`); `shapes` parses cluster shapes; `plan` checks whole per-test plans; `build`
only assembles the parsed values into the `settings` a session runs with.
"""

from pytest_frida.config.build import build_settings
from pytest_frida.config.grid5000 import G5K_SITES, Reservation, parse_nodes, parse_walltime
from pytest_frida.config.options import DEFAULT_SLO, OPTIONS, Option
from pytest_frida.config.plan import MARKER_KEYS, StepPlan
from pytest_frida.config.settings import ClusterSettings, FridaSettings, ShapedTest
from pytest_frida.config.shapes import ResolvedShape, Shape
from pytest_frida.config.values import SettingsError, parse_producer_config, parse_producers

__all__ = [
    "DEFAULT_SLO",
    "G5K_SITES",
    "MARKER_KEYS",
    "OPTIONS",
    "ClusterSettings",
    "FridaSettings",
    "Option",
    "Reservation",
    "ResolvedShape",
    "SettingsError",
    "Shape",
    "ShapedTest",
    "StepPlan",
    "build_settings",
    "parse_nodes",
    "parse_producer_config",
    "parse_producers",
    "parse_walltime",
]
