"""``slack-chatops send``: a sample alert through a running plugin, exactly as Cloudforet sends one, to see a card.

It speaks the plugin's gRPC API as Cloudforet's client does: it asks the server through reflection which of
Cloudforet's APIs it serves (1.x's notification service or 2.x's alert manager), then calls ``Protocol.init`` and
``Notification.dispatch`` with that API's generated stubs, the channel given on the command line and the bot token
from ``SLACK_BOT_TOKEN`` (as ``doctor`` takes it: never from the command line, which ``ps`` shows to every user,
and never printed). ``--resolve`` then sends the same alert as resolved, so the card it made turns green.

Each alert is new (its number from the clock and a random part, in a domain of its own), so it never updates a
real alert's card. Exit status 0 when the plugin accepted every dispatch; 2, with one line, when no plugin answers
at the endpoint or it refused (its ``ERROR_`` code and what to do).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2 as am_notification_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2_grpc as am_notification_grpc
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import protocol_pb2 as am_protocol_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import protocol_pb2_grpc as am_protocol_grpc
from bot.cloudforet._proto.spaceone.api.notification.plugin import (
    notification_pb2,
    notification_pb2_grpc,
    protocol_pb2,
    protocol_pb2_grpc,
)
from bot.cloudforet.apis import CloudforetApi
from bot.cloudforet.servicers import OUTCOME_METADATA_KEY, dict_to_struct
from bot.core.models import NotificationType
from bot.core.text import escape_controls
from bot.ops.common import OK, USAGE, CommandError, load_settings
from bot.ops.doctor import BOT_TOKEN_VARIABLE
from bot.redact import redact

# The type of the [Resolved] message, as Cloudforet's monitoring sends it.
RESOLVED_TYPE = NotificationType.SUCCESS
# The sample alerts' own domain: an alert's card is found by names scoped by it (``bot.core.lifecycle``), so a
# sample never touches a real alert's card.
SAMPLE_DOMAIN = "slack-chatops-send"
# Seconds to wait for reflection and init (instant on a running plugin), and for a dispatch: the plugin answers
# within BOT_DISPATCH_WAIT (under 120 s); Cloudforet itself gives up at 180.
QUICK_TIMEOUT_SECONDS = 10.0
DISPATCH_TIMEOUT_SECONDS = 180.0
# What each answer the plugin gives (the ``chatops-outcome`` trailing metadata) means for the card.
OUTCOMES = {
    "posted": "posted: the card is in Slack",
    "queued": "queued: not in Slack yet (paced, or Slack did not answer in time); `slack-chatops outbox` shows it",
    "repeat": "a repeat of a notification just sent: nothing more posted",
}
RESOLVED_OUTCOMES = {**OUTCOMES, "posted": "posted: the same card now shows the alert resolved"}


@dataclass(frozen=True)
class Api:
    """One of Cloudforet's plugin APIs as a client calls it."""

    api: CloudforetApi
    protocol_stub: Any
    notification_stub: Any
    init_request: Any
    dispatch_request: Any


APIS = {
    CloudforetApi.NOTIFICATION: Api(
        CloudforetApi.NOTIFICATION,
        protocol_pb2_grpc.ProtocolStub,
        notification_pb2_grpc.NotificationStub,
        protocol_pb2.InitRequest,
        notification_pb2.PluginDispatchRequest,
    ),
    CloudforetApi.ALERT_MANAGER: Api(
        CloudforetApi.ALERT_MANAGER,
        am_protocol_grpc.ProtocolStub,
        am_notification_grpc.NotificationStub,
        am_protocol_pb2.InitRequest,
        am_notification_pb2.DispatchRequest,
    ),
}


class SendError(Exception):
    """Why the sample could not be sent, in one line naming no secret."""


def sample_alert(number: str, resolved: bool, now: datetime) -> dict[str, Any]:
    """A sample alert's message, as Cloudforet's monitoring writes one (1.x's Struct; 2.x's typed fields)."""
    state = "RESOLVED" if resolved else "TRIGGERED"
    tags: list[dict[str, Any]] = [
        {"key": "Alert Number", "value": number, "options": {"short": True}},
        {"key": "State", "value": state, "options": {"short": True}},
        {"key": "Urgency", "value": "LOW", "options": {"short": True}},
        {"key": "Triggered by", "value": "slack-chatops send", "options": {"short": True}},
    ]
    if resolved:
        title = "[Resolved] Sample alert from slack-chatops send"
        description = "The sample alert was resolved: the same card, updated, with a line in its thread."
    else:
        title = "[Alerting] Sample alert from slack-chatops send"
        description = (
            "A sample sent with `slack-chatops send` through the plugin, the way Cloudforet sends an alert: nothing "
            "is wrong. A real alert also has an *Open in Cloudforet* button and one for each of its callbacks."
        )
    return {
        "title": title,
        "description": description,
        "tags": tags,
        "occurred_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def dispatch_request(
    api: Api, message: dict[str, Any], notification_type: NotificationType, channel: str, token: str
) -> Any:
    """The dispatch request Cloudforet would send for ``message`` on a channel of this plugin's protocol."""
    common: dict[str, Any] = {
        "options": dict_to_struct({}),
        "notification_type": notification_type.value,  # by name: the two APIs number the types differently
        "secret_data": dict_to_struct({}),
        "channel_data": dict_to_struct({"token": token, "channel": channel}),
    }
    if api.api is CloudforetApi.ALERT_MANAGER:  # 2.x: a typed message, and every request names its domain
        return api.dispatch_request(**common, message=message, domain_id=SAMPLE_DOMAIN)
    return api.dispatch_request(**common, message=dict_to_struct({**message, "domain_name": SAMPLE_DOMAIN}))


def _problem(exc: grpc.RpcError, endpoint: str) -> str:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or ""
    if details.startswith("ERROR_"):  # the plugin's own coded answer (ERROR_SLACK_UNAVAILABLE is UNAVAILABLE too)
        return f"the plugin refused it: {details}"
    if code is grpc.StatusCode.UNAVAILABLE:
        return (
            f"no plugin answers at {endpoint}: start it with `slack-chatops serve`, or give its address with "
            "--endpoint HOST:PORT (default: 127.0.0.1 and BOT_GRPC_PORT)"
        )
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the plugin at {endpoint} did not answer in time"
    name = code.name if code is not None else type(exc).__name__
    return f"the plugin at {endpoint} answered {name}: {details or 'no details'}"


def served_api(channel: grpc.Channel, endpoint: str, fallback: CloudforetApi) -> Api:
    """The API the server at ``channel`` serves, from its reflection (as Cloudforet's client finds it)."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    try:
        answers = list(
            stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=QUICK_TIMEOUT_SECONDS
            )
        )
    except grpc.RpcError as exc:
        if isinstance(exc, grpc.Call) and exc.code() is grpc.StatusCode.UNIMPLEMENTED:
            return APIS[fallback]  # no reflection: the API this deployment is set to
        raise SendError(_problem(exc, endpoint)) from None
    names = {service.name for answer in answers for service in answer.list_services_response.service}
    served = [api for api in CloudforetApi if f"{api.proto_package}.Notification" in names]
    if not served:
        raise SendError(f"the server at {endpoint} serves no Cloudforet notification plugin API: is it this plugin?")
    return APIS[fallback if fallback in served else served[0]]


def _outcome(call: Any) -> str:
    trailing = call.trailing_metadata() or ()
    return next((str(value) for key, value in trailing if key == OUTCOME_METADATA_KEY), "")


def _dispatch(api: Api, channel: grpc.Channel, request: Any, endpoint: str) -> str:
    """Init, then dispatch, as Cloudforet calls a plugin for each notification; the plugin's outcome."""
    try:
        api.protocol_stub(channel).init(api.init_request(options=dict_to_struct({})), timeout=QUICK_TIMEOUT_SECONDS)
        _, call = api.notification_stub(channel).dispatch.with_call(request, timeout=DISPATCH_TIMEOUT_SECONDS)
    except grpc.RpcError as exc:
        raise SendError(_problem(exc, endpoint)) from None
    return _outcome(call)


def send(
    endpoint: str,
    channel_name: str,
    token: str,
    notification_type: NotificationType,
    resolve: bool,
    api: CloudforetApi,
    say: Callable[[str], None],
) -> None:
    """Send the sample (and its resolution), saying where each went and how it was answered as it is answered."""
    number = f"#{int(time.time()) % 10**8:08d}{secrets.randbelow(100):02d}"
    with grpc.insecure_channel(endpoint) as channel:
        served = served_api(channel, endpoint, api)
        message = sample_alert(number, resolved=False, now=datetime.now(UTC))
        request = dispatch_request(served, message, notification_type, channel_name, token)
        outcome = _dispatch(served, channel, request, endpoint)
        say(
            f"sent {notification_type.name} alert {number} to {channel_name} through the plugin at {endpoint} "
            f"({served.api.proto_package})"
        )
        say(f"  {OUTCOMES.get(outcome, 'accepted')}")
        if resolve:
            message = sample_alert(number, resolved=True, now=datetime.now(UTC))
            request = dispatch_request(served, message, RESOLVED_TYPE, channel_name, token)
            outcome = _dispatch(served, channel, request, endpoint)
            say(f"resolved alert {number} ({RESOLVED_TYPE.name}), as Cloudforet does when an alert closes")
            say(f"  {RESOLVED_OUTCOMES.get(outcome, 'accepted')}")


def _scrubbed(text: str, token: str) -> str:
    """The last guard: whatever the plugin or gRPC said, the token never leaves."""
    return escape_controls(redact(text.replace(token, "[secret]") if token else text))


def main(args: argparse.Namespace) -> int:
    token = os.environ.get(BOT_TOKEN_VARIABLE, "").strip()
    if not token:
        print(
            f"cannot send: {BOT_TOKEN_VARIABLE} is not set: set it in the environment (not on the command line) to "
            "the bot token (xoxb-…) the plugin should post with",
            file=sys.stderr,
        )
        return USAGE
    try:
        settings = load_settings()
        endpoint = args.endpoint or f"127.0.0.1:{settings.grpc_port}"
        notification_type = NotificationType[args.type]
        send(
            endpoint,
            args.channel,
            token,
            notification_type,
            args.resolve,
            settings.cloudforet_api,
            lambda line: print(_scrubbed(line, token), flush=True),
        )
    except (CommandError, SendError) as exc:
        print(_scrubbed(f"cannot send: {exc}", token), file=sys.stderr)
        return USAGE
    return OK
