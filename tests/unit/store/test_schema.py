"""Stored layouts (``bot.ports.schema``): a record without ``v`` is layout 1 and is written back exactly as the
release before versioning wrote it; a newer one is refused naming both versions; a malformed one is told apart."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.core.errors import ErrorCode
from bot.ports.schema import (
    CARD_LAYOUT,
    ITEM_LAYOUT,
    DispatchBody,
    NewerLayout,
    NoteBody,
    StoredCard,
    UnreadableRecord,
    check_claim,
    read_body,
    read_card,
)
from tests.samples import card_record

DISPATCH = {"target": "#alerts", "message": {"title": "t"}, "notification_type": "ERROR", "traceparent": "00-x"}


def test_a_body_without_a_version_is_layout_one_and_keeps_what_rides_along() -> None:
    body = read_body(DISPATCH, kind="dispatch", item_id=1)
    assert isinstance(body, DispatchBody) and body.v == 1 and body.target == "#alerts"
    assert body.dump() == DISPATCH  # no ``v`` written for layout 1: the previous release reads it as it is
    note = read_body({"target": "#a", "channel_id": "C1", "ts": "1.0", "text": "x"}, kind="note", item_id=2)
    assert isinstance(note, NoteBody) and note.text == "x"


def test_a_newer_body_is_refused_naming_both_layouts() -> None:
    with pytest.raises(NewerLayout) as refused:
        read_body({**DISPATCH, "v": ITEM_LAYOUT + 1}, kind="dispatch", item_id=7)
    assert refused.value.code is ErrorCode.STORE_TOO_NEW and not refused.value.retryable
    assert refused.value.details.startswith(
        f"ERROR_STORE_TOO_NEW: outbox item 7 was written by a newer release: layout {ITEM_LAYOUT + 1}, this release "
        f"reads up to {ITEM_LAYOUT}; roll forward"
    )


@pytest.mark.parametrize("version", ["2x", 0, True, 1.5, None])
def test_an_unreadable_version_or_body_is_told_apart(version: object) -> None:
    with pytest.raises(UnreadableRecord):
        read_body({**DISPATCH, "v": version}, kind="dispatch", item_id=1)
    with pytest.raises(UnreadableRecord, match="outbox item 3 is not a note item"):
        read_body(DISPATCH, kind="note", item_id=3)


def test_a_card_is_stored_as_the_previous_release_stored_it() -> None:
    record = card_record()
    before = dataclasses.asdict(record)  # what the release before versioning wrote (its id aside, status a value)
    del before["id"]
    before["status"] = record.status.value
    fields = dataclasses.asdict(record)
    del fields["id"]
    assert json.dumps(StoredCard.model_validate(fields).dump()) == json.dumps(before)
    assert read_card(before, card_id="4").status is record.status
    with pytest.raises(NewerLayout, match=f"card 4 was written by a newer release: layout {CARD_LAYOUT + 1}"):
        read_card({**before, "v": CARD_LAYOUT + 1}, card_id="4")


def test_a_claim_of_a_newer_layout_is_refused() -> None:
    check_claim(None, key="alert:1:ACK")
    check_claim("1", key="alert:1:ACK")
    with pytest.raises(NewerLayout, match=r"the claim of button action 'alert:1:ACK' .* layout 2, this release reads"):
        check_claim("2", key="alert:1:ACK")
