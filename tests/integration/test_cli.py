"""The command line: ``preview`` renders a dispatch request offline; bad input is a clear error, not a trace."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.core.cards import STYLES
from bot.core.models import NotificationType
from bot.runtime import serve as serve_in_process
from bot.settings import Settings
from bot.startup import ListenError, describe_default, explain, explain_invalid_settings, is_secret
from bot.store import SqliteStore
from tests.fakes.slack import validate_blocks
from tests.process import ROOT, free_port, server_process
from tests.samples import CALLBACK_URL, alerting_message

TYPE_COLOURS = {t.name: STYLES[t].color for t in NotificationType}


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


# --------------------------------------------------------------------------------------------------------------------
# preview: the sample files, the notification type, a reader that stops early
# --------------------------------------------------------------------------------------------------------------------

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_sample_request_previews_as_a_card_slack_accepts(path: Path) -> None:
    result = preview(str(path.relative_to(ROOT)))
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert validate_blocks(card["blocks"], card["attachments"])[0] == []
    sample = json.loads(path.read_text())
    colour = TYPE_COLOURS[sample["notification_type"]]
    assert card["attachments"][0]["color"] == colour
    for callback in sample.get("message", sample).get("callbacks", []):
        assert callback["url"] not in result.stdout  # sealed into the button, never shown
        assert callback["label"] in result.stdout


def test_the_samples_show_each_kind_of_card() -> None:
    types = {json.loads(p.read_text())["notification_type"] for p in EXAMPLES}
    assert {"ERROR", "WARNING", "SUCCESS", "INFO"} <= types
    assert any("message" not in json.loads(p.read_text()) for p in EXAMPLES)  # a bare message too
    readme = (ROOT / "examples" / "README.md").read_text()
    assert all(f"`{p.name}`" in readme for p in EXAMPLES)


@pytest.mark.parametrize("name", ["CRITICAL", "error", 3, None])
def test_an_unknown_notification_type_is_an_error_not_a_grey_card(tmp_path: Path, name: object) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"notification_type": name, "message": {"title": "disk full"}}))
    result = preview(str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert f"unknown notification_type {json.dumps(name)}: use one of " in result.stderr
    assert all(t.name in result.stderr for t in NotificationType)  # what to write instead
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["NONE", "NOTIFICATION_TYPE_NONE", None])
def test_none_may_be_named_or_left_out(name: str | None) -> None:
    request: dict[str, object] = {"message": {"title": "note"}}
    if name is not None:
        request["notification_type"] = name
    result = preview("-", stdin=json.dumps(request))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["attachments"][0]["color"] == TYPE_COLOURS["NONE"]


def test_preview_into_a_reader_that_stops_early_is_no_error() -> None:
    """``slack-chatops preview request.json | head``: the pipe closes before the card is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "preview", str(EXAMPLES[0])],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the child has imported anything
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert "BrokenPipe" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr


def test_preview_through_a_shell_pipe_into_head() -> None:
    result = subprocess.run(
        f"set -o pipefail; {sys.executable} -m bot preview {EXAMPLES[0]} | head -n 2",
        shell=True,
        executable="/bin/bash",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.splitlines() == ["{", result.stdout.splitlines()[1]]
    assert result.stderr == ""


# --------------------------------------------------------------------------------------------------------------------
# serve: --help lists every setting; a start that cannot work is one line naming the setting, exit status 2
# --------------------------------------------------------------------------------------------------------------------


def test_serve_help_lists_every_setting_with_its_default_and_meaning() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # the descriptions are wrapped
    assert len(Settings.model_fields) >= 24
    for name, field in Settings.model_fields.items():
        assert field.alias and field.description, name
        assert f"{field.alias} [default: {describe_default(field.default)}]" in text, field.alias
        assert " ".join(field.description.split()) in text, field.alias
        assert (f"{field.alias} [default: unset] (secret" in text) == is_secret(name)
    assert {n for n in Settings.model_fields if is_secret(n)} == {
        "signing_secret",
        "app_token",
        "button_key",
        "store_url",
        "cloudforet_app_key",
        "cloudforet_app_keys",
    }


def test_defaults_shown_are_the_ones_used() -> None:
    assert describe_default(Settings.model_fields["data_dir"].default) == "./data"
    assert describe_default(Settings.model_fields["dispatch_wait"].default) == "5"
    assert describe_default(Settings.model_fields["cloudforet_api"].default) == "notification"
    assert describe_default(None) == "unset" and describe_default(Path("/data")) == "/data"


def serve(env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "BOT_GRPC_HOST": "127.0.0.1",
        "BOT_HTTP_HOST": "127.0.0.1",
        "BOT_GRPC_PORT": str(free_port()),
        "BOT_HTTP_PORT": str(free_port()),
        "BOT_DATA_DIR": str(data_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot start: "), result.stderr
    return lines[0]


@contextmanager
def listening(host: str = "127.0.0.1") -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("setting", ["BOT_GRPC_PORT", "BOT_HTTP_PORT"])
def test_a_port_in_use(tmp_path: Path, setting: str) -> None:
    with listening() as port:
        line = the_one_line(serve({setting: str(port)}, tmp_path))
    assert line.startswith(f"cannot start: {setting}: cannot listen on 127.0.0.1:{port}: the port is in use")
    assert "set it to a free port" in line


def test_a_listen_address_that_is_not_this_hosts(tmp_path: Path) -> None:
    line = the_one_line(serve({"BOT_HTTP_HOST": "host.invalid"}, tmp_path))
    assert line.startswith("cannot start: BOT_HTTP_HOST: cannot listen on host.invalid:") and "does not resolve" in line


@pytest.mark.parametrize("under", ["a-file", "a-file/data"])
def test_a_data_dir_that_cannot_be_written(tmp_path: Path, under: str) -> None:
    """A file where the directory should be, or a directory under a file (permissions do not stop root, who runs
    CI; a read-only root file system fails the same way, with "Read-only file system")."""
    (tmp_path / "a-file").write_text("not a directory")
    data_dir = tmp_path / under
    line = the_one_line(serve({}, data_dir))
    assert line.startswith(f"cannot start: BOT_DATA_DIR={data_dir} cannot be used (")
    assert "set BOT_DATA_DIR to a directory this user" in line and "emptyDir" in line


def test_an_unreachable_store(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    line = the_one_line(serve({"BOT_STORE_URL": f"redis://:pass-word-1@127.0.0.1:{closed}/0"}, tmp_path))
    assert line.startswith(f"cannot start: BOT_STORE_URL: the shared store (Redis at 127.0.0.1:{closed}/0) failed")
    assert "or unset BOT_STORE_URL" in line and "pass-word-1" not in line


def test_a_store_url_that_is_not_redis(tmp_path: Path) -> None:
    line = the_one_line(serve({"BOT_STORE_URL": "postgres://admin:pass-word-1@db:5432/x"}, tmp_path))
    assert "BOT_STORE_URL must be a Redis URL" in line and "pass-word-1" not in line


@pytest.mark.parametrize(
    ("tail", "why"),
    [
        ("/0?socket_timeout=abc", "Invalid value for 'socket_timeout'"),
        ("/0?db=x", "Invalid value for 'db'"),
        ("/0?ssl_cert_reqs=bogus", "redis-py takes no option 'ssl_cert_reqs' in a redis:// URL"),
        ("/0?no_such_option=1", "redis-py takes no option 'no_such_option'"),
        ("/0?protocol=9", "protocol must be either 2 or 3"),
        ("/notadb", "its path is not a database number"),
        ("/-1", "its path is not a database number"),
        ("/0?db=-1", "the database (db) must be a number from 0"),
    ],
)
@pytest.mark.parametrize("scheme", ["redis", "rediss"])
def test_a_store_url_redis_py_would_refuse_or_misread(tmp_path: Path, scheme: str, tail: str, why: str) -> None:
    """Refused at start with one line, before any connection (nothing listens on the port: the line would be about
    an unreachable store otherwise), never quoting the URL's password."""
    if scheme == "rediss" and "ssl_cert_reqs" in tail:
        why = "Invalid SSL Certificate Requirements Flag"  # an option of rediss://, but not a value it takes
    closed = free_port()
    line = the_one_line(serve({"BOT_STORE_URL": f"{scheme}://admin:pass-word-1@127.0.0.1:{closed}{tail}"}, tmp_path))
    assert line.startswith("cannot start: BOT_STORE_URL cannot be used: ") and why in line, line
    assert "pass-word-1" not in line and "admin" not in line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BOT_HTTP_PORT": "eighty"}, "BOT_HTTP_PORT='eighty' is not valid (Input should be a valid integer"),
        ({"BOT_GRPC_PORT": "70000"}, "BOT_GRPC_PORT='70000' is not valid (Input should be less than or equal to"),
        ({"BOT_DISPATCH_WAIT": "300"}, "BOT_DISPATCH_WAIT='300' is not valid"),
        ({"BOT_LOG_FORMAT": "xml"}, "BOT_LOG_FORMAT='xml' is not valid"),
        ({"BOT_LOG_LEVEL": "LOUD"}, "BOT_LOG_LEVEL='LOUD' is not valid: use DEBUG, INFO"),
        ({"BOT_CLOUDFORET_API": "v2"}, "BOT_CLOUDFORET_API='v2' is not valid"),
    ],
)
def test_a_malformed_setting(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    line = the_one_line(serve(env, tmp_path))
    assert line.startswith("cannot start: invalid settings: ") and expected in line
    (alias,) = env
    field = next(f for f in Settings.model_fields.values() if f.alias == alias)
    assert f"unset it for {describe_default(field.default)}" in line  # and what it must be instead
    assert not (tmp_path / "slack-chatops.sqlite3").exists()  # refused before anything was made


def test_two_malformed_settings_are_named_on_the_same_line(tmp_path: Path) -> None:
    line = the_one_line(serve({"BOT_HTTP_PORT": "x", "BOT_REPEAT_WINDOW": "-1"}, tmp_path))
    assert "BOT_HTTP_PORT='x'" in line and "BOT_REPEAT_WINDOW='-1'" in line


def test_a_bot_token_given_as_the_app_token_is_refused_unquoted(tmp_path: Path) -> None:
    token = "xoxb-1111-2222-SECRETbottoken"
    line = the_one_line(serve({"SLACK_APP_TOKEN": token}, tmp_path))
    assert line.startswith("cannot start: invalid settings: SLACK_APP_TOKEN is not valid (")
    assert "not an app-level token: one starts with xapp-" in line and "this is a bot token" in line
    assert token not in line and "SECRET" not in line and "1111" not in line
    assert not (tmp_path / "slack-chatops.sqlite3").exists()  # refused before anything was made


def test_a_signing_secret_that_is_not_one_is_refused_unquoted(tmp_path: Path) -> None:
    line = the_one_line(serve({"SLACK_SIGNING_SECRET": "s3cr3"}, tmp_path))
    assert line.startswith("cannot start: invalid settings: SLACK_SIGNING_SECRET is not valid (")
    assert "not a Slack signing secret: one is 32 hexadecimal digits" in line and "s3cr3" not in line


def test_a_misspelt_setting_is_warned_about_and_the_plugin_still_starts(tmp_path: Path) -> None:
    """A warning naming the setting meant, not a refusal (a variable may share the prefix by chance); the value,
    perhaps a secret meant for that setting, is never shown."""
    misspelt = {"BOT_STORE_ULR": "redis://:pass-word-1@127.0.0.1:1/0", "BOT_XYZZY": "pass-word-2"}
    with server_process(tmp_path, "http://127.0.0.1:9/api/", **misspelt) as server:
        log = server.log()
        assert server.process.poll() is None  # serving
    assert "BOT_STORE_ULR is not a setting this plugin reads, and is ignored: did you mean BOT_STORE_URL?" in log
    assert "BOT_XYZZY is not a setting this plugin reads" in log
    assert "pass-word" not in log
    assert "store: embedded SQLite" in log  # the misspelt setting was indeed not used


def test_a_secret_setting_is_never_quoted() -> None:
    """The rule checked on the message itself, for any secret setting and any error about it."""
    errors: list[Any] = [
        {"type": "int_parsing", "loc": ("BOT_STORE_URL",), "input": "redis://:pass-word-1@host"},
        {"type": "int_parsing", "loc": ("BOT_HTTP_PORT",), "input": "pass-word-2"},
    ]
    line = explain_invalid_settings(ValidationError.from_exception_data("Settings", errors))
    assert "BOT_STORE_URL is not valid" in line and "pass-word-1" not in line
    assert "BOT_HTTP_PORT='pass-word-2' is not valid" in line  # not a secret: quoted, to show what was wrong


async def test_a_bind_lost_to_a_race_still_closes_everything(tmp_path: Path) -> None:
    """Past the pre-check (a port taken between it and the bind), the runtime names the setting and closes what
    had started: the data directory's lock is free again at once, and no HTTP session is left open."""
    with listening() as port:
        values: dict[str, Any] = {
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "http_host": "127.0.0.1",
            "http_port": port,
            "data_dir": tmp_path,
        }
        settings = Settings(**values)
        with pytest.raises(ListenError) as caught:
            await asyncio.wait_for(serve_in_process(settings), timeout=30)
    assert caught.value.setting == "BOT_HTTP_PORT"
    assert (explain(caught.value, settings) or "").startswith(f"BOT_HTTP_PORT: cannot listen on 127.0.0.1:{port}")
    again = SqliteStore(tmp_path, lock_wait=0)  # DataDirInUse if the failed start still held it
    await again.close()


def test_failures_no_setting_explains_keep_their_traceback(tmp_path: Path) -> None:
    """Only failures a setting can fix become one line; anything else is a bug, and its traceback is kept."""
    values: dict[str, Any] = {"data_dir": tmp_path}
    settings = Settings(**values)
    assert explain(ConnectionResetError(104, "Connection reset by peer"), settings) is None
    assert explain(ValueError("too many values to unpack"), settings) is None
    assert explain(KeyError("x"), settings) is None
    full = explain(OSError(28, "No space left on device"), settings)  # writing the lock file names no file
    assert full is not None and full.startswith(f"BOT_DATA_DIR={tmp_path} cannot be used (No space left on device)")
    elsewhere = explain(PermissionError(13, "Permission denied", "/etc/elsewhere"), settings)
    assert elsewhere == "cannot use /etc/elsewhere: Permission denied"
