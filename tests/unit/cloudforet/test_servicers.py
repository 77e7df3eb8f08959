"""The generic gRPC adapter over both generated packages: each package's own enum numbering, each one's message,
and ``Protocol.init`` answered from a response built once per distinct options (bounded)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from bot.cloudforet import servicers
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import notification_pb2 as am_notification_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.plugin import protocol_pb2 as am_protocol_pb2
from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, protocol_pb2
from bot.cloudforet.alert_manager import ALERT_MANAGER_API
from bot.cloudforet.channel_schema import plugin_metadata
from bot.cloudforet.servicers import (
    MAX_INIT_ANSWERS,
    NOTIFICATION_API,
    Dispatcher,
    PluginApi,
    PluginServicers,
    dict_to_struct,
    struct_to_dict,
)
from bot.core.models import DispatchOutcome, DispatchRequest, NotificationType
from tests.samples import TOKEN, alerting_message

APIS = [NOTIFICATION_API, ALERT_MANAGER_API]


class RecordingService:
    """Stands in for the dispatch service: keeps what it was given."""

    def __init__(self) -> None:
        self.dispatched: list[tuple[DispatchRequest, str | None]] = []

    async def dispatch(self, request: DispatchRequest, *, digest: str | None = None) -> DispatchOutcome:
        self.dispatched.append((request, digest))
        return DispatchOutcome.QUEUED


class Context:
    """The little of a grpc.aio context the handlers use when nothing fails."""

    def __init__(self) -> None:
        self.trailing: tuple[tuple[str, str], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing = metadata


def _servicers(api: PluginApi) -> tuple[PluginServicers, RecordingService]:
    service = RecordingService()
    return PluginServicers(api, cast(Dispatcher, service)), service


def test_each_package_keeps_its_own_notification_type_numbers() -> None:
    assert NOTIFICATION_API.notification_type_names == {
        0: "NOTIFICATION_TYPE_NONE",
        1: "INFO",
        2: "ERROR",
        3: "SUCCESS",
        4: "WARNING",
    }
    assert ALERT_MANAGER_API.notification_type_names == {
        0: "NOTIFICATION_TYPE_NONE",
        1: "ERROR",
        2: "WARNING",
        3: "SUCCESS",
        4: "INFO",
    }


def _request(api: PluginApi, kind: str) -> Any:
    channel = dict_to_struct({"token": TOKEN, "channel": "#alerts"})
    if api is NOTIFICATION_API:
        message = alerting_message(domain_id="not-a-domain")
        # Set by name: the request carries the number 1.x's enum gives it.
        return notification_pb2.PluginDispatchRequest(
            message=dict_to_struct(message), notification_type=kind, channel_data=channel
        )
    return am_notification_pb2.DispatchRequest(
        message=am_notification_pb2.NotificationMessage(title="[Alerting] disk full"),
        notification_type=kind,
        channel_data=channel,
        domain_id="domain-a",
    )


@pytest.mark.parametrize("api", APIS, ids=["1.x", "2.x"])
@pytest.mark.parametrize("kind", ["INFO", "ERROR", "SUCCESS", "WARNING"])
def test_dispatch_reads_the_type_by_its_package_numbering(api: PluginApi, kind: str) -> None:
    adapter, service = _servicers(api)
    request = _request(api, kind)
    context = Context()
    asyncio.run(adapter.dispatch(request, cast(Any, context)))
    assert context.trailing == (("chatops-outcome", "queued"),)  # how it was answered, for `slack-chatops send`
    [(parsed, digest)] = service.dispatched
    assert parsed.notification_type is NotificationType(kind)
    assert parsed.channel.target == "alerts"
    assert digest is not None and len(digest) == 64
    # 1.x names no domain (whatever its message says); 2.x's request names one.
    assert parsed.message.domain_id == ("" if api is NOTIFICATION_API else "domain-a")


@pytest.mark.parametrize("api", APIS, ids=["1.x", "2.x"])
def test_init_answers_the_channel_form(api: PluginApi) -> None:
    adapter, _ = _servicers(api)
    answer = asyncio.run(adapter.init(api.protocol_pb2.InitRequest(options=dict_to_struct({})), None))
    assert isinstance(answer, api.protocol_pb2.PluginInfo)
    assert struct_to_dict(answer.metadata) == plugin_metadata()


def test_init_builds_the_answer_once_per_distinct_options(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []

    def counting(options: dict[str, Any] | None = None) -> dict[str, Any]:
        built.append(dict(options or {}))
        return plugin_metadata(options)

    monkeypatch.setattr(servicers, "plugin_metadata", counting)
    adapter, _ = _servicers(NOTIFICATION_API)

    def init(options: dict[str, Any]) -> Any:
        return asyncio.run(adapter.init(protocol_pb2.InitRequest(options=dict_to_struct(options)), None))

    first = init({})
    assert init({}) is first and built == [{}]
    # The same options in another order are the same options.
    one = init({"a": 1, "b": "x"})
    assert init({"b": "x", "a": 1}) is one and len(built) == 2
    assert init({"a": 2, "b": "x"}) is not one and len(built) == 3


def test_init_keeps_a_bounded_number_of_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []

    def counting(options: dict[str, Any] | None = None) -> dict[str, Any]:
        built.append(1)
        return plugin_metadata(options)

    monkeypatch.setattr(servicers, "plugin_metadata", counting)
    adapter, _ = _servicers(ALERT_MANAGER_API)

    def init(number: int) -> Any:
        request = am_protocol_pb2.InitRequest(options=dict_to_struct({"n": number}), domain_id="domain-a")
        return asyncio.run(adapter.init(request, None))

    for number in range(MAX_INIT_ANSWERS + 10):
        init(number)
    assert len(built) == MAX_INIT_ANSWERS + 10
    init(MAX_INIT_ANSWERS + 9)  # the newest are kept
    assert len(built) == MAX_INIT_ANSWERS + 10
    init(0)  # the oldest was let go, and is built again
    assert len(built) == MAX_INIT_ANSWERS + 11
    assert len(adapter._init_answers) == MAX_INIT_ANSWERS
