"""Other work on the host during a real step shows as CPU outside the run (measure.outside).

A process this test starts burns one core while a short local run measures a step: the
step's figure must see at least half of it, and say so in a note. Nothing is asserted of
a quiet run: a CI machine is never quiet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SUITE = """
import pytest

@pytest.mark.capacity(producers=[2], rate=10, duration=3, warmup=1, slo="loss==0")
def test_small(frida_result):
    assert frida_result.counts.sent > 0
"""

#: the burner's own bound, whatever happens to this test
BURN_S = 110
#: one core, busy until killed or until its bound (no wrapper: killing it kills the loop)
BURNER = f"import time\nend = time.monotonic() + {BURN_S}\nwhile time.monotonic() < end: pass"


def test_a_burning_process_is_cpu_outside_the_run(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = tmp_path / "reports"
    burner = subprocess.Popen(
        [sys.executable, "-c", BURNER],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--frida-report-dir={report_dir}",
            "--frida-prime=0",
            timeout=BURN_S - 10,
        )
    finally:
        burner.kill()
        burner.wait()
    result.assert_outcomes(passed=1)
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    (row,) = pd.read_csv(run_dir / "steps.csv").to_dict("records")
    assert row["outside_cores"] >= 0.5, row
    (step,) = json.loads((run_dir / "report.json").read_text())["steps"]
    figure = step["resources"]["sources"]["host"]["figures"]["outside_cores"]
    assert figure["mean"] == row["outside_cores"] and figure["max"] >= figure["mean"]
    assert any(n.startswith("other work on this host took") for n in step["notes"])
    assert step["resources"]["controller_cores"] >= 0
