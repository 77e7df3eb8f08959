"""Button clicks end to end on loopback: signed Slack requests (HTTP and Socket Mode) into the real Bolt app,
real HTTP calls to a fake Cloudforet callback endpoint, and the card updated in the fake Slack."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.cards import CALLBACK_ACTION_PREFIX
from tests.interactivity_support import APP_TOKEN, SIGNING_SECRET, ClickStack, click_stack, wait_for
from tests.samples import TOKEN
from tests.support import CHANNEL_ID


@pytest.fixture
def clicks(tmp_path: Path) -> Iterator[ClickStack]:
    with click_stack(tmp_path) as stack:
        yield stack


@pytest.fixture(params=["http", "socket"])
def any_transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickStack]:
    """The same click tests over signed HTTP requests and over Socket Mode."""
    with click_stack(tmp_path, transport=request.param) as stack:
        yield stack


def _callback_buttons(stack: ClickStack, ts: str) -> list[str]:
    message = stack.card(ts)
    blocks = message.attachments[0]["blocks"] if message.attachments else message.blocks
    return [
        e["action_id"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(CALLBACK_ACTION_PREFIX)
    ]


def test_click_acknowledges_calls_back_and_updates_the_card(any_transport: ClickStack) -> None:
    ts, url = any_transport.post_alert()
    original_color = any_transport.card(ts).attachments[0]["color"]
    result = any_transport.click(any_transport.payload(ts))
    assert result.status == 200
    wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in any_transport.card_text(ts), what="acknowledged card")
    [request] = any_transport.cloudforet.requests
    assert request.method == "POST" and request.json == {"responder": "alice (Slack U0CLICKER)"}
    assert url.endswith(request.path)
    assert any_transport.cloudforet.alerts["alert-1"]["state"] == "ACKNOWLEDGED"
    card = any_transport.card(ts)
    assert _callback_buttons(any_transport, ts) == []
    assert card.attachments[0]["color"] != original_color
    assert "<!date^" in any_transport.card_text(ts)
    assert len(card.updates) == 2  # in progress, then done
    assert "clicked *Acknowledge Alerts*" in str(card.updates[0])
    [audit] = any_transport.stack.loop.run(any_transport.stack.runtime.store.audit())
    assert (audit.actor, audit.target, audit.outcome, audit.channel) == ("U0CLICKER", "alert-1", "done", CHANNEL_ID)


# A button label as Cloudforet's message may give it: a mention of everyone, bold, a link.
HOSTILE_LABEL = "*<!channel> ack* <https://evil.example|re-login>"
ESCAPED_LABEL = "*&lt;!channel&gt; ack* &lt;https://evil.example|re-login&gt;"


def _mrkdwn_texts(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" else []
        return own + [t for child in value.values() for t in _mrkdwn_texts(child)]
    if isinstance(value, list):
        return [t for child in value for t in _mrkdwn_texts(child)]
    return []


def test_the_button_label_reaches_the_card_escaped(clicks: ClickStack) -> None:
    url = clicks.cloudforet.issue_key("alert-1")
    ts, _ = clicks.post_alert(callback_url=url, callbacks=[{"url": url, "label": HOSTILE_LABEL}])
    clicks.click(clicks.payload(ts))
    wait_for(lambda: len(clicks.card(ts).updates) == 2, what="the card in progress, then done")
    in_progress = _mrkdwn_texts(clicks.card(ts).updates[0])  # what replace_original sent Slack
    assert f"<@U0CLICKER> clicked *{ESCAPED_LABEL}*…" in " ".join(in_progress)
    for update in clicks.card(ts).updates:
        assert not any("<!channel>" in t or "<https://evil" in t for t in _mrkdwn_texts(update)), update


def test_the_button_label_reaches_the_clicker_escaped(clicks: ClickStack) -> None:
    url = clicks.cloudforet.issue_key("alert-1")
    ts, _ = clicks.post_alert(callback_url=url, callbacks=[{"url": url, "label": HOSTILE_LABEL}])
    clicks.cloudforet.expire(url)
    clicks.click(clicks.payload(ts))
    [text] = wait_for(clicks.ephemerals_for, what="the clicker told the link expired")
    assert text.startswith(f":warning: *{ESCAPED_LABEL}* did not go through") and "<!channel>" not in text


def test_ack_reaches_slack_before_a_slow_callback_finishes(any_transport: ClickStack) -> None:
    ts, url = any_transport.post_alert()
    any_transport.cloudforet.slow(url, 1.5)
    started = time.monotonic()
    result = any_transport.click(any_transport.payload(ts))
    assert result.status == 200 and result.elapsed < 0.5
    wait_for(lambda: "Acknowledged" in any_transport.card_text(ts), what="card after slow callback")
    assert time.monotonic() - started >= 1.5
    assert len(any_transport.cloudforet.requests) == 1


def test_expired_link_keeps_the_button_and_tells_the_clicker(any_transport: ClickStack) -> None:
    ts, url = any_transport.post_alert()
    any_transport.cloudforet.expire(url)
    any_transport.click(any_transport.payload(ts))
    [text] = wait_for(any_transport.ephemerals_for, what="ephemeral")
    assert "expired" in text and "open the alert in cloudforet" in text.lower()
    wait_for(lambda: len(any_transport.card(ts).updates) == 2, what="restored card")
    assert _callback_buttons(any_transport, ts) == ["callback_0"]
    assert "clicked" not in any_transport.card_text(ts)
    assert any_transport.stack.loop.run(any_transport.stack.runtime.store.audit())[0].outcome == "expired"
    # the failure released the claim: a retry calls again
    any_transport.cloudforet.heal(url)
    any_transport.click(any_transport.payload(ts))
    wait_for(lambda: len(any_transport.cloudforet.requests) == 2, what="second callback")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("fail", "HTTP 500"),
        ("slow", "did not answer within 2 s"),
    ],
)
def test_failing_callbacks_are_reported(clicks: ClickStack, setup: str, expected: str) -> None:
    ts, url = clicks.post_alert()
    if setup == "fail":
        clicks.cloudforet.fail(url, 500)
    else:
        clicks.cloudforet.slow(url, 4)
    clicks.click(clicks.payload(ts))
    [text] = wait_for(clicks.ephemerals_for, timeout=10, what="ephemeral")
    assert expected in text
    assert _callback_buttons(clicks, ts) == ["callback_0"]


def test_cloudforet_1x_json_answer_is_done(any_transport: ClickStack) -> None:
    ts, _ = any_transport.post_alert(callback_url=any_transport.cloudforet.issue_v1_url("alert-9"))
    any_transport.click(any_transport.payload(ts))
    wait_for(lambda: "Acknowledged" in any_transport.card_text(ts), what="acknowledged card")
    assert any_transport.cloudforet.requests[0].json == {"responder": "alice (Slack U0CLICKER)"}


def test_twenty_concurrent_clicks_make_one_callback(any_transport: ClickStack) -> None:
    ts, url = any_transport.post_alert()
    any_transport.cloudforet.slow(url, 0.5)
    payloads = [any_transport.payload(ts, user_id=f"U{i:04d}", user_name=f"user{i}") for i in range(20)]
    late = any_transport.payload(ts, user_id="ULATE")  # a stale client still showing the button

    async def all_clicks() -> list[int]:
        results = await asyncio.gather(*(any_transport.click_async(p) for p in payloads))
        return [r.status for r in results]

    assert any_transport.stack.loop.run(all_clicks()) == [200] * 20
    wait_for(lambda: "Acknowledged" in any_transport.card_text(ts), what="acknowledged card")
    time.sleep(0.3)
    assert len(any_transport.cloudforet.requests) == 1
    wait_for(lambda: len(any_transport.slack.ephemerals) >= 19, what="19 ephemerals")
    assert all("already" in str(e.get("text")) for e in any_transport.slack.ephemerals)
    # a late click after success changes nothing either
    any_transport.click(late)
    wait_for(lambda: any_transport.ephemerals_for("ULATE"), what="late ephemeral")
    assert "already did this" in any_transport.ephemerals_for("ULATE")[0]
    assert len(any_transport.cloudforet.requests) == 1


@pytest.mark.parametrize("variant", ["forged", "stale", "unsigned", "wrong-secret"])
def test_bad_signatures_get_401_and_no_callback(clicks: ClickStack, variant: str) -> None:
    ts, _ = clicks.post_alert()
    payload = clicks.payload(ts)
    variants: dict[str, dict[str, Any]] = {
        "forged": {"signature": "v0=" + "0" * 64},
        "stale": {"timestamp": int(time.time()) - 600},
        "unsigned": {"omit_headers": True},
        "wrong-secret": {},
    }
    kwargs = variants[variant]
    if variant == "wrong-secret":
        result = clicks.stack.loop.run(clicks.slack.click(clicks.events_url, "not-the-secret", payload))
    else:
        result = clicks.click(payload, **kwargs)
    assert result.status == 401
    time.sleep(0.2)
    assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []


def test_signed_but_malformed_requests_get_400(clicks: ClickStack) -> None:
    import hashlib
    import hmac

    import aiohttp

    async def post(body: str) -> int:
        stamp = str(int(time.time()))
        signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                clicks.events_url,
                data=body,
                headers={
                    "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ) as answer,
        ):
            return answer.status

    assert clicks.stack.loop.run(post("payload=%7Bnot-json")) == 400
    assert clicks.stack.loop.run(post("nothing=here")) == 400


def test_tampered_button_value_calls_nothing(any_transport: ClickStack) -> None:
    ts, url = any_transport.post_alert()
    value = any_transport.payload(ts)["actions"][0]["value"]
    for forged in (value[:-4] + "AAAA", url, "v1.deadbeef.AAAA"):
        any_transport.click(any_transport.payload(ts, value_override=forged))
    wait_for(lambda: len(any_transport.ephemerals_for()) == 3, what="refusals")
    texts = any_transport.ephemerals_for()
    assert len(texts) == 3 and all("not issued by this plugin" in t for t in texts)
    assert any_transport.cloudforet.requests == []
    assert [a.outcome for a in any_transport.stack.loop.run(any_transport.stack.runtime.store.audit())] == [
        "refused"
    ] * 3


def test_link_button_is_acknowledged_without_a_callback(clicks: ClickStack) -> None:
    ts, _ = clicks.post_alert()
    assert clicks.click(clicks.payload(ts, action_id="open_link")).status == 200
    time.sleep(0.2)
    assert clicks.cloudforet.requests == [] and clicks.card(ts).updates == []


def test_disallowed_callback_host_is_refused(tmp_path: Path) -> None:
    with click_stack(tmp_path, callback_allowed_hosts=["cloudforet.example.com"]) as clicks:
        ts, _ = clicks.post_alert()
        clicks.click(clicks.payload(ts))
        [text] = wait_for(clicks.ephemerals_for, what="refusal")
        assert "not allowed" in text and "BOT_CALLBACK_ALLOWED_HOSTS" in text
        assert clicks.cloudforet.requests == []


def test_metadata_address_is_always_refused(clicks: ClickStack) -> None:
    ts, _ = clicks.post_alert(callback_url="http://169.254.169.254/monitoring/v1/alert/a-1/key/ACKNOWLEDGED")
    clicks.click(clicks.payload(ts))
    [text] = wait_for(clicks.ephemerals_for, what="refusal")
    assert "link-local or metadata" in text
    assert clicks.stack.loop.run(clicks.stack.runtime.store.audit())[0].outcome == "refused"


def test_allowed_responders_by_user_group(tmp_path: Path) -> None:
    with click_stack(tmp_path, allowed_responders=["S0ONCALL"]) as clicks:
        clicks.slack.add_usergroup("S0ONCALL", ["U0ONCALL"])
        ts, _ = clicks.post_alert()
        clicks.click(clicks.payload(ts))
        [text] = wait_for(clicks.ephemerals_for, what="refusal")
        assert "not on the list" in text and clicks.cloudforet.requests == []
        clicks.click(clicks.payload(ts, user_id="U0ONCALL", user_name="oncall"))
        wait_for(lambda: "*Acknowledged* by <@U0ONCALL>" in clicks.card_text(ts), what="ack by a group member")
        assert any(c.method == "usergroups.users.list" for c in clicks.slack.calls)


def test_only_allowed_responders_may_click(tmp_path: Path) -> None:
    with click_stack(tmp_path, allowed_responders=["U0ONCALL"]) as clicks:
        ts, _ = clicks.post_alert()
        clicks.click(clicks.payload(ts))
        [text] = wait_for(clicks.ephemerals_for, what="refusal")
        assert "not on the list" in text and clicks.cloudforet.requests == []
        clicks.click(clicks.payload(ts, user_id="U0ONCALL", user_name="oncall"))
        wait_for(lambda: "*Acknowledged* by <@U0ONCALL>" in clicks.card_text(ts), what="ack by on-call")


def test_without_a_signing_secret_http_clicks_are_refused(tmp_path: Path) -> None:
    with click_stack(tmp_path, signing_secret=None) as clicks:
        ts, _ = clicks.post_alert()
        assert clicks.click(clicks.payload(ts)).status == 401
        assert clicks.cloudforet.requests == []


def test_app_token_from_the_channel_switches_buttons_on_and_is_remembered(tmp_path: Path) -> None:
    with click_stack(tmp_path, signing_secret=None) as clicks:
        clicks.stack.dispatch(
            {"title": "hello"}, channel_data={"token": TOKEN, "channel": "alerts", "app_token": APP_TOKEN}
        )
        clicks.stack.loop.run(clicks.slack.wait_for_socket())
        [stored] = clicks.stack.loop.run(clicks.stack.runtime.store.app_tokens())
        assert APP_TOKEN not in stored  # kept sealed at rest
        assert clicks.stack.loop.run(clicks.stack.runtime._remembered_app_tokens()) == [APP_TOKEN]
    with click_stack(tmp_path, signing_secret=None) as restarted:  # same data dir, no dispatch yet
        assert restarted.stack.runtime.socket_mode.has(APP_TOKEN)
        restarted.stack.loop.run(restarted.slack.wait_for_socket())


def test_a_click_works_on_another_replica_with_the_same_settings(tmp_path: Path) -> None:
    # Replica B talks to the same Slack as A (its own store, so it never saw the card); Slack delivers the click,
    # with its response_url, to B.
    with (
        click_stack(tmp_path / "a") as first,
        click_stack(tmp_path / "b", slack_api_url=first.slack.base_url) as second,
    ):
        ts, _ = first.post_alert()
        first_payload = first.payload(ts)
        second.cloudforet = first.cloudforet
        result = second.stack.loop.run(second.slack.click(second.events_url, SIGNING_SECRET, first_payload))
        assert result.status == 200
        wait_for(lambda: len(first.cloudforet.requests) == 1, what="callback from replica B")
        assert json.loads(first.cloudforet.requests[0].body) == {"responder": "alice (Slack U0CLICKER)"}
        wait_for(lambda: "*Acknowledged* by <@U0CLICKER>" in first.card_text(ts), what="the card updated by B")


def test_health_readiness_and_metrics(clicks: ClickStack) -> None:
    import aiohttp

    ts, _ = clicks.post_alert()
    clicks.click(clicks.payload(ts))
    wait_for(lambda: "Acknowledged" in clicks.card_text(ts), what="acknowledged card")
    base = f"http://127.0.0.1:{clicks.stack.runtime.http_port}"

    async def get(path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(base + path) as answer:
            return answer.status, await answer.text()

    assert clicks.stack.loop.run(get("/healthz"))[0] == 200
    assert clicks.stack.loop.run(get("/readyz"))[0] == 200
    status, text = clicks.stack.loop.run(get("/metrics"))
    assert status == 200 and 'slack_chatops_clicks_total{outcome="done"}' in text
