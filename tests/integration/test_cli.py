"""The command line: ``preview`` renders a dispatch request offline; bad input is a clear error, not a trace."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.slack import validate_blocks
from tests.process import ROOT
from tests.samples import CALLBACK_URL, alerting_message


def preview(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "preview", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_preview_prints_a_card_slack_accepts(tmp_path: Path) -> None:
    request = {
        "options": {},
        "notification_type": "ERROR",
        "message": alerting_message(description="x" * 5000),
        "channel_data": {},
        "secret_data": {},
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    result = preview(str(path))
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert validate_blocks(card["blocks"], card["attachments"])[0] == []
    assert card["attachments"][0]["color"] == "#E01E5A"
    assert CALLBACK_URL not in result.stdout
    assert "shortened: the description" in result.stderr


def test_preview_takes_a_bare_message_on_stdin() -> None:
    result = preview("-", stdin=json.dumps({"title": "hello"}))
    assert result.returncode == 0 and json.loads(result.stdout)["blocks"][0]["text"]["text"].endswith("hello")


def test_preview_of_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in ([str(bad)], [str(tmp_path / "missing.json")]):
        result = preview(*args)
        assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr
