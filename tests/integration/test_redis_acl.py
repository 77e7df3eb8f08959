"""Least privilege on a shared Redis: the README's ACL user, limited to the plugin's own keys and channel.

A real redis-server; the user is made with the README's own ``ACL SETUSER`` line (so the two cannot drift). The
plugin runs on it: a dispatch posts a card, a click calls back and updates it, the operator commands read the
store, and Redis logged no command it refused. The same user cannot read, write, publish or script outside its
prefix, nor run what would harm a shared Redis.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import redis

from tests.interactivity_support import ClickStack, click_stack, wait_for
from tests.process import ROOT
from tests.redis_server import RedisServer

README = ROOT / "README.md"
USER, PASSWORD = "slack-chatops", "acl-test-password-4f1c"
PLACEHOLDER = ">CHANGE-ME"


def readme_acl() -> list[str]:
    """The README's ``ACL SETUSER slack-chatops …`` line, as words, with this test's password."""
    [line] = re.findall(r"^\s*(ACL SETUSER slack-chatops .*)$", README.read_text(), re.MULTILINE)
    words = shlex.split(line)
    assert PLACEHOLDER in words, f"the README's ACL line gives the password as {PLACEHOLDER}"
    return [f">{PASSWORD}" if word == PLACEHOLDER else word for word in words]


@pytest.fixture
def restricted(own_redis: RedisServer) -> Iterator[str]:
    """The URL of the README's ACL user on a Redis of the test's own (the default user stays its admin)."""
    with closing(redis.Redis.from_url(own_redis.url)) as admin:
        _command(admin, *readme_acl())
        admin.set("other:key", "not the plugin's")
        admin.acl_log_reset()
    yield f"redis://{USER}:{PASSWORD}@127.0.0.1:{own_redis.port}/0"


def _command(client: redis.Redis, *words: str) -> object:
    """A command as words, the way redis-cli takes it (redis-py types its generic call loosely)."""
    return client.execute_command(*words)  # type: ignore[no-untyped-call]


def _refusals(server: RedisServer) -> list[str]:
    with closing(redis.Redis.from_url(server.url, decode_responses=True)) as admin:
        entries = admin.acl_log()
    return [str(entry) for entry in entries]


def _cli(url: str, data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BOT_STORE_URL": url, "BOT_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_plugin_works_as_the_restricted_user(tmp_path: Path, own_redis: RedisServer, restricted: str) -> None:
    with click_stack(tmp_path / "plugin", store_url=restricted) as clicks:
        _dispatch_and_click(clicks)
        listed = _cli(restricted, tmp_path / "ops", "outbox", "--json")
        assert listed.returncode == 0 and json.loads(listed.stdout) == {"pending": [], "failed": []}, listed.stderr
        audit = _cli(restricted, tmp_path / "ops", "audit", "--json")
        assert audit.returncode == 0 and [r["outcome"] for r in json.loads(audit.stdout)] == ["done"], audit.stderr
    assert _refusals(own_redis) == []  # nothing the plugin asked for was refused, and nothing was swallowed
    with closing(redis.Redis.from_url(own_redis.url, decode_responses=True)) as admin:
        keys = {str(key) for key in admin.keys("*")}
        assert "slack-chatops:layout" in keys and any(k.startswith("slack-chatops:card:") for k in keys)
        assert keys - {k for k in keys if k.startswith("slack-chatops:")} == {"other:key"}


def _dispatch_and_click(clicks: ClickStack) -> None:
    ts, _ = clicks.post_alert()
    assert clicks.click(clicks.payload(ts)).status == 200
    wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in clicks.card_text(ts), what="the acknowledged card")
    assert clicks.cloudforet.alerts["alert-1"]["state"] == "ACKNOWLEDGED"


@pytest.mark.parametrize(
    "command",
    [
        ["GET", "other:key"],
        ["SET", "other:key", "overwritten"],
        ["DEL", "other:key"],
        ["GET", "slack-chatopsX"],  # the prefix with its colon: not another name that starts the same
        ["PUBLISH", "other-channel", "x"],
        ["SUBSCRIBE", "other-channel"],
        ["EVAL", "return redis.call('GET', 'other:key')", "0"],  # a script runs with its caller's rights
        ["EVAL", "return redis.call('GET', KEYS[1])", "1", "other:key"],
        ["KEYS", "*"],
        ["FLUSHDB"],
        ["FLUSHALL"],
        ["CONFIG", "SET", "appendonly", "no"],
        ["ACL", "SETUSER", USER, "~*"],
        ["SHUTDOWN", "NOSAVE"],
    ],
    ids=lambda words: " ".join(words[:2]),
)
def test_the_restricted_user_is_refused_outside_its_prefix(
    own_redis: RedisServer, restricted: str, command: list[str]
) -> None:
    with closing(redis.Redis.from_url(restricted, decode_responses=True)) as client:
        assert client.set("slack-chatops:acl-probe", "mine")  # its own keys it may use
        with pytest.raises(redis.exceptions.ResponseError) as refused:
            _command(client, *command)
        said = str(refused.value)  # NOPERM (redis-py keeps the text after it), or the script's own refusal
        assert "no permissions" in said or "can't access at least one of the keys" in said, said
    with closing(redis.Redis.from_url(own_redis.url, decode_responses=True)) as admin:
        assert admin.get("other:key") == "not the plugin's" and admin.ping()
