"""``slack-chatops send``: a sample alert through a running plugin (``python -m bot serve``), as Cloudforet sends one,
into the fake Slack; ``--resolve`` updates the same card; a plugin that is not there or refuses is one line, exit 2;
the bot token is never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.slack import FakeSlack, validate_blocks
from tests.interactivity_support import wait_for
from tests.process import ROOT, free_port, server_process
from tests.samples import TOKEN
from tests.support import CHANNEL_ID


def send(*args: str, token: str | None = TOKEN, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SLACK_"))}
    environment.update({"PYTHONPATH": str(ROOT), **env})
    if token is not None:
        environment["SLACK_BOT_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "bot", "send", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def no_secret(result: subprocess.CompletedProcess[str]) -> None:
    for secret in (TOKEN, "SECRETbottoken"):
        assert secret not in result.stdout and secret not in result.stderr
    assert "Traceback" not in result.stderr


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    no_secret(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot send: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def test_a_sample_alert_becomes_a_card_and_resolve_updates_it(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with server_process(tmp_path, fake_slack.base_url) as server:
        result = send("--channel", "#alerts", "--endpoint", server.endpoint, "--type", "warning", "--resolve")
        log = server.log()
    assert result.returncode == 0, result.stderr
    no_secret(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sent WARNING alert #") and " to #alerts through the plugin at " in lines[0]
    assert server.endpoint in lines[0] and "spaceone.api.notification.plugin" in lines[0]
    assert lines[1].strip() == "posted: the card is in Slack"
    assert lines[3].strip() == "posted: the same card now shows the alert resolved"
    [card] = fake_slack.messages[CHANNEL_ID]  # one card: the resolution updated it
    assert card.blocks is not None and card.attachments is not None
    assert validate_blocks(card.blocks, card.attachments)[0] == []
    assert card.blocks[0]["text"]["text"] == ":white_check_mark: [Resolved] Sample alert from slack-chatops send"
    assert card.attachments[0]["color"] == "#2EB67D"
    assert len(card.updates) == 1
    number = lines[0].split()[3]
    assert number in str(card.attachments)  # the alert number the output named is the card's
    wait_for(lambda: card.replies, what="the resolved line in the card's thread")
    assert "sent nothing yet? try: slack-chatops send --channel '#…'" in log
    assert f"--endpoint 127.0.0.1:{server.grpc_port}" in log


def test_each_send_is_a_new_alert(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with server_process(tmp_path, fake_slack.base_url) as server:
        for _ in range(2):
            result = send("--channel", CHANNEL_ID, "--endpoint", server.endpoint)
            assert result.returncode == 0, result.stderr
    cards = fake_slack.messages[CHANNEL_ID]
    assert len(cards) == 2
    for card in cards:
        assert card.blocks is not None and card.attachments is not None
        assert card.attachments[0]["color"] == "#E01E5A"  # ERROR by default
        assert card.blocks[0]["text"]["text"].endswith("[Alerting] Sample alert from slack-chatops send")


def test_the_default_endpoint_is_bot_grpc_port_and_the_alert_manager_is_found(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """2.x's package (found through reflection, as Cloudforet's client finds it), at 127.0.0.1:BOT_GRPC_PORT."""
    with server_process(tmp_path, fake_slack.base_url, BOT_CLOUDFORET_API="alert-manager") as server:
        result = send("--channel", "#alerts", "--type", "INFO", BOT_GRPC_PORT=str(server.grpc_port))
    assert result.returncode == 0, result.stderr
    assert "spaceone.api.alert_manager.plugin" in result.stdout and "posted: the card is in Slack" in result.stdout
    [card] = fake_slack.messages[CHANNEL_ID]
    assert card.attachments is not None and card.attachments[0]["color"] == "#1D9BD1"  # INFO, by name in 2.x


def test_no_plugin_listening_is_one_line(tmp_path: Path) -> None:
    closed = free_port()
    line = one_line(send("--channel", "#alerts", "--endpoint", f"127.0.0.1:{closed}"))
    assert line.startswith(f"cannot send: no plugin answers at 127.0.0.1:{closed}: start it with `slack-chatops serve`")


def test_a_refusal_shows_the_error_code_and_what_to_do(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with server_process(tmp_path, fake_slack.base_url) as server:
        not_found = one_line(send("--channel", "#no-such-channel", "--endpoint", server.endpoint))
        not_a_token = one_line(send("--channel", "#alerts", "--endpoint", server.endpoint, token="xoxb-0-revoked"))
    assert not_found.startswith("cannot send: the plugin refused it: ERROR_SLACK_CHANNEL_NOT_FOUND: ")
    assert not_a_token.startswith("cannot send: the plugin refused it: ERROR_SLACK_AUTH: ")
    assert "xoxb-0-revoked" not in not_a_token


def test_queued_when_slack_does_not_answer_in_time(tmp_path: Path) -> None:
    with server_process(tmp_path, f"http://127.0.0.1:{free_port()}/api/", BOT_DISPATCH_WAIT="0.5") as server:
        result = send("--channel", "#alerts", "--endpoint", server.endpoint)
    assert result.returncode == 0, result.stderr
    assert "queued: not in Slack yet" in result.stdout and "slack-chatops outbox" in result.stdout


def test_without_a_bot_token_nothing_is_sent(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with server_process(tmp_path, fake_slack.base_url) as server:
        result = send("--channel", "#alerts", "--endpoint", server.endpoint, token=None)
    assert result.returncode == 2 and result.stderr.startswith("cannot send: SLACK_BOT_TOKEN is not set: ")
    assert fake_slack.messages[CHANNEL_ID] == []
