"""What a failed outbox item keeps of its body (``bot.core.compact.failed_body``): the body itself when it fits, in
UTF-8; else cut, visibly, to its bound, whatever its shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.core.compact import TRIMMED_KEY, failed_body
from bot.core.lifecycle import alert_keys
from bot.core.models import Message
from tests.samples import alert_tags, alerting_message

BOUND = 256 * 1024


def _stored(body: Any) -> str:
    """A body as the outbox keeps it while pending (compact, ``\\u``-escaped)."""
    return json.dumps(body, separators=(",", ":"))


def test_a_body_that_fits_is_kept_as_it_is_in_utf8() -> None:
    body = {"target": "#alerts", "message": alerting_message(title="Disk 95 % 😀 ünï"), "notification_type": "ERROR"}
    kept = failed_body(_stored(body), BOUND)
    assert json.loads(kept) == body
    assert "😀".encode() in kept and b"\\u" not in kept  # 4 bytes, not 12
    assert len(kept) < len(_stored(body).encode())


def test_a_body_too_big_is_cut_visibly_to_its_bound_and_keeps_what_a_retry_needs() -> None:
    tags = alert_tags() + [{"key": f"Detail {i}", "value": "😀" * 4096} for i in range(235)]
    message = alerting_message(tags=tags, description="d" * 60_000)
    body = {"target": "#alerts", "message": message, "notification_type": "ERROR", "mentions": {"mentions": ["U1"]}}
    kept = failed_body(_stored(body), BOUND)
    assert len(kept) <= BOUND
    cut = json.loads(kept)
    assert cut[TRIMMED_KEY] == len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    assert {k: cut[k] for k in ("target", "notification_type", "mentions")} == {
        "target": "#alerts",
        "notification_type": "ERROR",
        "mentions": {"mentions": ["U1"]},
    }
    parsed, whole = Message.from_struct(cut["message"]), Message.from_struct(message)
    assert parsed.title == whole.title and alert_keys(parsed) == alert_keys(whole)
    assert parsed.description.endswith("…") and len(parsed.description) < len(whole.description)
    assert parsed.tags[-1].value.endswith("…") and len(parsed.tags) < len(whole.tags)


@pytest.mark.parametrize(
    "body",
    [
        {"target": "#x", "message": {"title": "t", "deep": [[[[[[["y" * 500] * 20] * 20] * 20]]]]}},
        {"target": "#x", "message": {f"key {i}": "z" * 3000 for i in range(2000)}},
        {f"field {i}": "w" * 200 for i in range(20_000)},
    ],
    ids=["deeply nested", "many keys", "many top-level keys"],
)
def test_any_shape_fits(body: dict[str, Any]) -> None:
    kept = failed_body(_stored(body), BOUND)
    assert len(kept) <= BOUND and TRIMMED_KEY in json.loads(kept)


def test_what_is_not_a_json_object_is_kept_as_an_empty_one() -> None:
    assert failed_body("not json", BOUND) == b"{}"
    assert failed_body("[1, 2]", BOUND) == b"{}"
    assert json.loads(failed_body('{"text": "\\ud83d alone"}', BOUND)) == {"text": "\ud83d alone"}  # kept escaped
