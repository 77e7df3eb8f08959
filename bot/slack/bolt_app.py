"""The Bolt app: routes button clicks to the click service, acknowledging each at once; and the Add note modal's
submission, answered within Slack's 3 s with what came of it (closed, or an error under the note's input).

Bolt acknowledges as soon as ``ack()`` is called (``process_before_response=False``) and lets the listener run
on, so Slack gets its answer well inside 3 s whatever the callback does. The same app serves HTTP and Socket Mode.

Bolt trusts the shape of what it is given: a string where Slack sends an object makes it raise while building
its request, and a listener that raises can make it wait out its 3-second ack timeout and answer 404. So only a
``block_actions`` payload that :func:`block_actions` has checked field by field reaches it, rebuilt from the
fields checked (anything else Slack adds later is left out, not refused), and likewise a ``view_submission``
(:func:`view_submission`); the listeners themselves never let an exception escape, and a click on a button no
listener knows is acknowledged here rather than left to Bolt's unhandled-request path. A malformed payload is
logged by what is wrong with it (field names and types), never by its content. :func:`read_click` reads the click
(``bot.core.clicks.Click``) that the click service is handed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any, Protocol

from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.core.cards import CALLBACK_ACTION_PREFIX, LINK_ACTION_ID, NOTE_ACTION_ID, RESOLVE_ACTION_ID
from bot.core.clicks import Click
from bot.core.notes import MAX_PRIVATE_METADATA, NOTE_CALLBACK_ID, NoteSubmission, note_errors, read_submission
from bot.slack.response_url import ResponseUrl, ResponseUrlRefused, ResponseUrls

logger = logging.getLogger(__name__)

BLOCK_ACTIONS = "block_actions"
VIEW_SUBMISSION = "view_submission"
# Slack waits 3 s for the answer to a view_submission; the note modal's answer (added, or an error under its
# input) must be ready before then, so the plugin waits this long for Cloudforet and then answers anyway.
NOTE_ANSWER_SECONDS = 2.5
# Slack documents no length for IDs, timestamps or names; its IDs are ~11 characters and ts values 17, so 255
# bounds every such field with room to spare (longer is not something Slack sends).
MAX_ID_LENGTH = 255
# A button's value is at most 2,000 characters and its label 75 (Block Kit limits for button elements).
MAX_VALUE_LENGTH = 2000
MAX_LABEL_LENGTH = 75
# response_url and trigger_id are ~100 characters; 2,048 is the usual ceiling for a URL.
MAX_URL_LENGTH = 2048
# An actions block holds at most 25 elements (Block Kit limit); a click on a button carries one action.
MAX_ACTIONS = 25
# How deep a payload may nest. Block Kit goes a dozen levels at most (attachment > blocks > elements > rich
# text > ...); 32 leaves room and stops nesting deep enough to exhaust recursion in json, Bolt or deepcopy.
MAX_NESTING = 32


class MalformedInteraction(ValueError):
    """A payload that is not a ``block_actions`` interaction as Slack sends it. The message names fields and
    types only, never content, so it is safe to log and to answer with."""


def _kind(value: Any) -> str:
    return (
        "null"
        if value is None
        else {
            dict: "an object",
            list: "a list",
            str: "a string",
            bool: "a boolean",
            int: "a number",
            float: "a number",
        }.get(type(value), type(value).__name__)
    )


def _optional_object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = parent.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise MalformedInteraction(f"{where}{key} is {_kind(value)}, not an object")


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _optional_object(parent, key, where)
    if value is None:
        raise MalformedInteraction(f"{where}{key} is missing, not an object")
    return value


def _string(
    parent: dict[str, Any], key: str, where: str, *, required: bool = False, max_length: int = MAX_ID_LENGTH
) -> str | None:
    value = parent.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise MalformedInteraction(
            f"{where}{key} is {_kind(value)}, not a non-empty string"
            if required
            else f"{where}{key} is {_kind(value)}, not a string"
        )
    if len(value) > max_length:
        raise MalformedInteraction(f"{where}{key} is longer than {max_length} characters")
    return value


def _strings(
    source: dict[str, Any],
    where: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    max_length: int = MAX_ID_LENGTH,
) -> dict[str, Any]:
    """The named string fields of ``source`` (checked), and nothing else."""
    result: dict[str, Any] = {}
    for key in required:
        result[key] = _string(source, key, where, required=True, max_length=max_length)
    for key in optional:
        value = _string(source, key, where, max_length=max_length)
        if value is not None:
            result[key] = value
    return result


def _nesting_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def _blocks(value: Any, where: str) -> list[dict[str, Any]]:
    """A list of block objects; an actions block's elements must be objects too (the card code reads them)."""
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise MalformedInteraction(f"{where} is not a list of block objects")
    for i, block in enumerate(value):
        elements = block.get("elements")
        if block.get("type") == "actions" and not (
            isinstance(elements, list) and all(isinstance(e, dict) for e in elements)
        ):
            raise MalformedInteraction(f"{where}[{i}].elements is not a list of objects")
    return value


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    source = _object(payload, "message", "")
    message = _strings(source, "message.", ("ts",), ("type", "thread_ts", "user", "bot_id", "app_id", "team"))
    text = source.get("text")
    if text is not None and not isinstance(text, str):
        raise MalformedInteraction(f"message.text is {_kind(text)}, not a string")
    message["text"] = text or ""
    if source.get("blocks") is not None:
        message["blocks"] = _blocks(source["blocks"], "message.blocks")
    attachments = source.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise MalformedInteraction("message.attachments is not a list of objects")
        for i, attachment in enumerate(attachments):
            if attachment.get("blocks") is not None:
                _blocks(attachment["blocks"], f"message.attachments[{i}].blocks")
        message["attachments"] = attachments
    return message


def _action(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedInteraction(f"{where} is {_kind(value)}, not an action object")
    action = _strings(value, f"{where}.", ("action_id",), ("block_id", "type", "action_ts", "style"))
    button_value = _string(value, "value", f"{where}.", max_length=MAX_VALUE_LENGTH)
    if button_value is not None:
        action["value"] = button_value
    text = _optional_object(value, "text", f"{where}.")
    if text is not None:
        action["text"] = _strings(text, f"{where}.text.", ("text",), ("type",), max_length=MAX_LABEL_LENGTH)
    return action


def block_actions(payload: Any) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends for a click on a message button, checked and rebuilt from
    the fields checked; raise :class:`MalformedInteraction` (saying what is wrong) for anything else."""
    if not isinstance(payload, dict):
        raise MalformedInteraction(f"the payload is {_kind(payload)}, not an object")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise MalformedInteraction(f"type is {_kind(kind)}, not a string")
    if kind != BLOCK_ACTIONS:
        raise MalformedInteraction(f"the type is not {BLOCK_ACTIONS}: this app handles only button clicks")
    if not _nesting_within(payload, MAX_NESTING):
        raise MalformedInteraction(f"the payload nests deeper than {MAX_NESTING} levels")
    user = _object(payload, "user", "")
    team = _optional_object(payload, "team", "")
    enterprise = _optional_object(payload, "enterprise", "")
    channel = _object(payload, "channel", "")
    container = _object(payload, "container", "")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
        raise MalformedInteraction(f"actions is {_kind(actions)}, not a list of 1 to {MAX_ACTIONS} actions")
    install = payload.get("is_enterprise_install", False)
    if not isinstance(install, bool):
        raise MalformedInteraction(f"is_enterprise_install is {_kind(install)}, not a boolean")
    for key in ("authorizations", "response_urls"):  # never in block_actions from a message; Bolt reads them
        if key in payload:
            raise MalformedInteraction(f"{key} has no place in a block_actions payload")
    clean: dict[str, Any] = {
        "type": BLOCK_ACTIONS,
        **_strings(payload, "", ("response_url",), ("api_app_id", "trigger_id"), max_length=MAX_URL_LENGTH),
        "user": _strings(user, "user.", ("id",), ("username", "name", "team_id")),
        "team": None if team is None else _strings(team, "team.", ("id",), ("domain", "enterprise_id")),
        "enterprise": None if enterprise is None else _strings(enterprise, "enterprise.", ("id",), ("name",)),
        "is_enterprise_install": install,
        "channel": _strings(channel, "channel.", ("id",), ("name",)),
        "container": _strings(container, "container.", ("message_ts",), ("type", "channel_id", "thread_ts")),
        "message": _message(payload),
        "actions": [_action(a, f"actions[{i}]") for i, a in enumerate(actions)],
    }
    return clean


def view_submission(payload: Any) -> dict[str, Any]:
    """The ``view_submission`` payload Slack sends when a modal is submitted, checked and rebuilt from the fields
    checked (the user, the team, the view's callback id, private metadata and input values); raise
    :class:`MalformedInteraction` for anything else."""
    if not isinstance(payload, dict) or payload.get("type") != VIEW_SUBMISSION:
        raise MalformedInteraction(f"the type is not {VIEW_SUBMISSION}")
    if not _nesting_within(payload, MAX_NESTING):
        raise MalformedInteraction(f"the payload nests deeper than {MAX_NESTING} levels")
    user = _object(payload, "user", "")
    team = _optional_object(payload, "team", "")
    enterprise = _optional_object(payload, "enterprise", "")
    view = _object(payload, "view", "")
    state = _object(view, "state", "view.")
    values = _object(state, "values", "view.state.")
    if not all(isinstance(v, dict) and all(isinstance(a, dict) for a in v.values()) for v in values.values()):
        raise MalformedInteraction("view.state.values is not an object of objects of objects")
    install = payload.get("is_enterprise_install", False)
    if not isinstance(install, bool):
        raise MalformedInteraction(f"is_enterprise_install is {_kind(install)}, not a boolean")
    return {
        "type": VIEW_SUBMISSION,
        **_strings(payload, "", (), ("api_app_id", "trigger_id"), max_length=MAX_URL_LENGTH),
        "user": _strings(user, "user.", ("id",), ("username", "name", "team_id")),
        "team": None if team is None else _strings(team, "team.", ("id",), ("domain", "enterprise_id")),
        "enterprise": None if enterprise is None else _strings(enterprise, "enterprise.", ("id",), ("name",)),
        "is_enterprise_install": install,
        "view": {
            **_strings(view, "view.", ("id", "callback_id"), ("type", "team_id", "app_id", "hash")),
            **_strings(view, "view.", (), ("private_metadata",), max_length=MAX_PRIVATE_METADATA),
            "state": {"values": values},
        },
    }


def interaction(payload: Any) -> dict[str, Any]:
    """A button click (``block_actions``) or a modal's submission (``view_submission``), checked."""
    if isinstance(payload, dict) and payload.get("type") == VIEW_SUBMISSION:
        return view_submission(payload)
    return block_actions(payload)


def _loose_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _loose_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_click(body: Any) -> Click:
    """Read a click from a payload of any shape: a field that is missing or of the wrong type reads as empty
    (and an empty button value is refused as not ours), so this never raises."""
    body = _loose_object(body)
    actions = body.get("actions")
    action = _loose_object(actions[0]) if isinstance(actions, list) and actions else {}
    user = _loose_object(body.get("user"))
    container = _loose_object(body.get("container"))
    message = _loose_object(body.get("message"))
    return Click(
        user_id=_loose_text(user.get("id")),
        user_name=(_loose_text(user.get("username")) or _loose_text(user.get("name")) or _loose_text(user.get("id")))
        or "someone",
        team_id=_loose_text(_loose_object(body.get("team")).get("id")) or _loose_text(user.get("team_id")),
        channel_id=(
            _loose_text(_loose_object(body.get("channel")).get("id")) or _loose_text(container.get("channel_id"))
        ),
        message_ts=_loose_text(container.get("message_ts")) or _loose_text(message.get("ts")),
        action_id=_loose_text(action.get("action_id")),
        value=_loose_text(action.get("value")),
        label=_loose_text(_loose_object(action.get("text")).get("text")),
        message=message,
        trigger_id=_loose_text(body.get("trigger_id")),
    )


def http_request(payload: dict[str, Any]) -> AsyncBoltRequest:
    """A Bolt request for a checked payload, as JSON: Bolt then reads exactly what was checked."""
    return AsyncBoltRequest(body=json.dumps(payload), headers={"content-type": "application/json"})


class ResponseUrlResponder:
    """Talks back through the click's ``response_url``, checked to be Slack's (works on any replica; no bot token
    needed; see :mod:`bot.slack.response_url`)."""

    def __init__(self, responses: ResponseUrls, url: ResponseUrl) -> None:
        self._responses = responses
        self._url = url

    async def replace(self, payload: dict[str, Any]) -> None:
        await self._responses.replace(self._url, payload)

    async def tell(self, text: str) -> None:
        await self._responses.tell(self._url, text)


class ClickHandler(Protocol):
    """What the Bolt app hands a click to (``bot.clicks.service.ClickService``, given by the runtime): it never
    raises, and talks back through the responder."""

    async def handle(self, click: Click, respond: ResponseUrlResponder) -> object: ...

    async def submit_note(self, submission: NoteSubmission) -> dict[str, Any] | None:
        """The note modal submitted: None when done, else the answer keeping the modal open. Never raises."""
        ...


async def dispatch_socket_mode(app: AsyncApp, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
    """One Socket Mode envelope into the Bolt app, which is handed only checked ``block_actions`` payloads.

    Anything else (another envelope type, a malformed payload) is acknowledged, so Slack does not deliver it
    again, and dropped with a log line saying what was wrong, never what it held.
    """
    started = time.time()
    try:
        if req.type != "interactive":
            raise MalformedInteraction("the envelope is not an interaction: this app handles only button clicks")
        payload = interaction(req.payload)
    except MalformedInteraction as exc:
        logger.warning(
            "ignored a malformed or unsupported interaction over Socket Mode: %s",
            exc,
            extra={"event": "request_refused", "reason": metrics.Refusal.MALFORMED.value},
        )
        metrics.INTERACTIONS_REFUSED.labels(metrics.Transport.SOCKET_MODE.value, metrics.Refusal.MALFORMED.value).inc()
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=str(req.envelope_id)))
        return
    response = await app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=payload))
    if response.status != 200:  # Bolt would leave it unacknowledged, and Slack would deliver it again
        logger.warning(
            "the Bolt app answered an interaction over Socket Mode with HTTP %d; acknowledged it", response.status
        )
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=str(req.envelope_id)))
        return
    await send_async_response(client, req, response, started)
    metrics.CLICK_ACK_SECONDS.labels(metrics.Transport.SOCKET_MODE.value).observe(time.time() - started)


def build_bolt_app(clicks: ClickHandler, *, slack_api_url: str, responses: ResponseUrls) -> AsyncApp:
    async def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # Clicks are answered through response_url, which needs no token.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)

    app = AsyncApp(
        name="slack-chatops",
        logger=logging.getLogger("bot.bolt"),
        client=AsyncWebClient(base_url=slack_api_url, logger=logging.getLogger("bot.bolt.web")),
        authorize=authorize,
        # HTTP requests are verified by the HTTP adapter before they reach Bolt; Socket Mode needs none.
        request_verification_enabled=False,
        process_before_response=False,
        ssl_check_enabled=False,
    )

    # A callback's button, Resolve or Add note (issue 19): the click service tells them apart by the sealed value.
    @app.action(re.compile(rf"^(?:{CALLBACK_ACTION_PREFIX}\d+|{RESOLVE_ACTION_ID}|{NOTE_ACTION_ID})$"))
    async def on_callback_button(ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        await ack()
        try:  # the card and every message about the click go there: only to Slack, or nowhere
            url = responses.check(str(body.get("response_url") or ""))
        except ResponseUrlRefused as exc:
            transport = metrics.Transport.SOCKET_MODE if request.mode == "socket_mode" else metrics.Transport.HTTP
            logger.warning(
                "ignored a click: %s",
                exc,
                extra={"event": "request_refused", "reason": metrics.Refusal.MALFORMED.value},
            )
            metrics.INTERACTIONS_REFUSED.labels(transport.value, metrics.Refusal.MALFORMED.value).inc()
            return
        # An exception escaping here would make Bolt forget the ack and answer 404 after 3 s: none may.
        try:
            await clicks.handle(read_click(body), ResponseUrlResponder(responses, url))
        except Exception as exc:
            logger.error("a click could not be handled: %s", type(exc).__name__)

    running: set[asyncio.Future[dict[str, Any] | None]] = set()

    @app.view(NOTE_CALLBACK_ID)
    async def on_note_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        # The answer goes in the ack (close the modal, or an error under its input), so Cloudforet is waited for,
        # but never past NOTE_ANSWER_SECONDS: Slack gives up at 3 s and the user would see a bare error.
        task = asyncio.ensure_future(clicks.submit_note(read_submission(body)))
        running.add(task)  # held until done: it may outlive the answer
        task.add_done_callback(running.discard)
        done, _ = await asyncio.wait({task}, timeout=NOTE_ANSWER_SECONDS)
        if not done:  # the call goes on; what it comes to is audited and, when added, told in the card's thread
            await ack(
                response_action="errors",
                errors=note_errors(
                    "Cloudforet is slow to answer, so the note may still be added: wait a moment and check the "
                    "card's thread (or the alert in Cloudforet) before sending it again."
                )["errors"],
            )
            return
        try:
            answer = task.result()
        except Exception as exc:  # submit_note never raises; this is a bug, and the modal must still be answered
            logger.error("a note submission could not be handled: %s", type(exc).__name__)
            answer = note_errors("Something went wrong in the plugin; the note may not have been added.")
        if answer is None:
            await ack()
        else:
            await ack(response_action=answer["response_action"], errors=answer["errors"])

    @app.action(LINK_ACTION_ID)
    async def on_link_button(ack: AsyncAck) -> None:
        # A URL button still sends an action; acknowledging it keeps Slack from showing a warning.
        await ack()

    @app.action(re.compile(".*"))  # registered last: only what no listener above took
    async def on_unknown_button(ack: AsyncAck) -> None:
        # A button this plugin does not know (a card from another app version, or a foreign one): acknowledged
        # so Slack shows no error, and not handed to Bolt's unhandled-request path (which logs the payload).
        await ack()
        logger.warning("ignored a click on a button this plugin does not know")

    @app.error
    async def on_error(error: Exception) -> None:
        logger.error("interactivity handler failed: %s", type(error).__name__)

    return app
