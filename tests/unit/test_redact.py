"""Credentials never reach a report: passwords in URLs and secret query values."""

from __future__ import annotations

from pytest_frida.config import build_settings
from pytest_frida.report.redact import redact
from pytest_frida.session import FridaRun


def test_redact_urls() -> None:
    assert (
        redact("https://alice:s3cret@api.grid5000.fr/stable/")
        == "https://alice:***@api.grid5000.fr/stable/"
    )
    assert (
        redact("http://127.0.0.1:8086/write?db=frida&u=bob&p=hunter2")
        == "http://127.0.0.1:8086/write?db=frida&u=***&p=***"
    )
    assert redact("http://h/x?token=abc&db=y") == "http://h/x?token=***&db=y"
    assert redact("nothing to hide here") == "nothing to hide here"


def test_report_settings_hold_no_credentials(tmp_path) -> None:
    settings = build_settings(
        {
            "site": "sophia",
            "g5k-api": "https://alice:s3cret@api.grid5000.fr/stable/",
            "influx": "http://127.0.0.1:8086/write?db=frida&p=hunter2",
            "report-dir": str(tmp_path),
        },
        {},
    )
    text = str(FridaRun(settings).info.to_dict())
    assert "s3cret" not in text and "hunter2" not in text
    assert "alice:***@api.grid5000.fr" in text
