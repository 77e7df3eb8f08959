"""The gRPC adapter for Cloudforet's plugin APIs: ``Protocol`` (init, verify) and ``Notification`` (dispatch), one
generic adapter (``PluginServicers``) over a generated package (``PluginApi``): 1.x's
``spaceone.api.notification.plugin`` here (``NOTIFICATION_API``), 2.x's in ``bot.cloudforet.alert_manager``.

They translate Structs to the core's models and coded errors to gRPC status; every error leaves with details
``ERROR_<CODE>: <message>``, short enough for any client's metadata limit, and never a stack trace or a secret.
They are registered with a lenient request parser (``add_plugin_servicers``), so a request protobuf cannot
read (nested past its depth limit) is a coded INVALID_ARGUMENT too, not gRPC's bare UNKNOWN.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any, Protocol, TypeAlias, TypeVar

import grpc
from google.protobuf import empty_pb2, struct_pb2
from google.protobuf.message import DecodeError, Message

from bot import metrics, tracing
from bot.cloudforet._proto.spaceone.api.notification.plugin import notification_pb2, protocol_pb2
from bot.cloudforet.channel_schema import plugin_metadata
from bot.cloudforet.status import grpc_status
from bot.core.errors import BotError, ErrorCode
from bot.core.models import DOMAIN_ID_KEY, DispatchOutcome, DispatchRequest
from bot.core.requests import parse_channel, parse_dispatch
from bot.core.text import ELLIPSIS
from bot.redact import redact

logger = logging.getLogger(__name__)
RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)
# Handlers by method name, by full service name (grpc's own signatures take RpcMethodHandler[Any, Any]; it is
# generic only in grpc's type stubs, so the alias is a string).
ServiceHandlers: TypeAlias = "dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]]"
# Error details travel in the grpc-message header, percent-encoded: up to 3 bytes on the wire per UTF-8 byte.
# gRPC clients refuse a header block over 8 KiB (the default grpc.max_metadata_size, which Cloudforet's client
# keeps), so details stay within 1 KiB of UTF-8: at most 3 KiB on the wire, with room for the other headers.
MAX_DETAILS_BYTES = 1024
# How a dispatch was answered (``DispatchOutcome``: posted, queued, repeat), in the answer's trailing metadata for
# ``slack-chatops send`` to print. Cloudforet's client reads only the (empty) answer, and ignores it.
OUTCOME_METADATA_KEY = "chatops-outcome"


class Rpc(StrEnum):
    """The plugin's methods, as their log lines and spans name them."""

    INIT = "Protocol.init"
    VERIFY = "Protocol.verify"
    DISPATCH = "Notification.dispatch"


def bounded_details(details: str) -> str:
    """``details`` cut (visibly) to at most ``MAX_DETAILS_BYTES`` of UTF-8, never inside a character."""
    raw = details.encode("utf-8", errors="replace")
    if len(raw) <= MAX_DETAILS_BYTES:
        return raw.decode("utf-8")
    room = MAX_DETAILS_BYTES - len(ELLIPSIS.encode("utf-8"))
    return raw[:room].decode("utf-8", errors="ignore") + ELLIPSIS


def _plain_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_plain_value(item) for item in value.list_value.values]
    return None


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain Python values (numbers stay floats, as on the wire; NaN and infinity pass through)."""
    return {key: _plain_value(value) for key, value in struct.fields.items()}


def dict_to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


async def answer(
    context: grpc.aio.ServicerContext[RequestT, ResponseT], method: Rpc, call: Callable[[], Awaitable[ResponseT]]
) -> ResponseT:
    """Run a handler; turn a coded error into its status, anything else into INTERNAL with a reference.

    The call is a span continuing the trace of the ``traceparent`` in the request's metadata (Cloudforet's client
    sends one), so everything it leads to (the outbox, the Slack calls) is part of that trace."""
    parent = tracing.from_metadata(context.invocation_metadata())
    with tracing.span(method, parent=parent, kind=tracing.Kind.SERVER, attributes=_RPC_ATTRIBUTES) as span:
        return await _answer(context, method, call, span)


_RPC_ATTRIBUTES = {"rpc.system": "grpc"}


async def _answer(
    context: grpc.aio.ServicerContext[RequestT, ResponseT],
    method: Rpc,
    call: Callable[[], Awaitable[ResponseT]],
    span: tracing.Span,
) -> ResponseT:
    started = time.perf_counter()
    try:
        return await call()
    except BotError as exc:
        details = bounded_details(redact(exc.details))  # redacted: input echoed in a message may hold a secret
        elapsed_ms = (time.perf_counter() - started) * 1000
        fields = {
            "event": "grpc_error",
            "method": method.value,
            "code": exc.code.value,
            "duration_ms": round(elapsed_ms, 1),
        }
        logger.warning("%s failed: %s (%.0f ms)", method, details, elapsed_ms, extra=fields)
        span.fail(exc.code.value)
        await context.abort(grpc_status(exc.code), details)
    except Exception as exc:
        if isinstance(exc, grpc.aio.AbortError):
            raise
        reference = uuid.uuid4().hex[:12]
        logger.error(
            "%s failed unexpectedly (ref %s): %s",
            method,
            reference,
            type(exc).__name__,
            exc_info=exc,
            extra={"event": "grpc_error", "method": method.value, "code": ErrorCode.INTERNAL.value, "ref": reference},
        )
        span.fail(ErrorCode.INTERNAL.value)
        if method is Rpc.DISPATCH:  # a bug: the dispatch service did not count it
            metrics.NOTIFICATIONS.labels(DispatchOutcome.FAILED.value).inc()
            metrics.NOTIFICATIONS_FAILED.labels(ErrorCode.INTERNAL.value).inc()
        await context.abort(
            grpc.StatusCode.INTERNAL,
            f"{ErrorCode.INTERNAL.value}: unexpected failure (ref {reference}); see the plugin log",
        )
    raise AssertionError("unreachable")  # context.abort always raises


class Dispatcher(Protocol):
    """What the servicers hand a request to (``bot.dispatch.DispatchService``, given by the runtime): a dispatch
    answered or refused with a ``BotError``, and a bot token checked with Slack."""

    async def dispatch(self, request: DispatchRequest, *, digest: str | None = None) -> DispatchOutcome: ...

    async def verify(self, token: str) -> dict[str, Any]: ...


def parse_counted(
    *, channel_data: dict[str, Any], secret_data: dict[str, Any], message: dict[str, Any], notification_type: str
) -> DispatchRequest:
    """``parse_dispatch``, counting a notification refused for what it carries (it fails here, for good)."""
    try:
        return parse_dispatch(
            channel_data=channel_data, secret_data=secret_data, message=message, notification_type=notification_type
        )
    except BotError as exc:
        metrics.NOTIFICATIONS.labels(DispatchOutcome.FAILED.value).inc()
        metrics.NOTIFICATIONS_FAILED.labels(exc.code.value).inc()
        raise


async def verify_secret(service: Dispatcher, options: dict[str, Any], secret: dict[str, Any]) -> None:
    """``Protocol.verify``: check the bot token in ``secret`` with Slack; nothing to check without one."""
    if not secret.get("token"):
        # Nothing to check (Cloudforet verifies a protocol before any channel exists).
        return
    channel = parse_channel({"channel": secret.get("channel") or options.get("channel") or "verify"}, secret)
    await service.verify(channel.token.get_secret_value())


@dataclass(frozen=True)
class PluginApi:
    """One of Cloudforet's generated plugin packages, as the adapter serves it. The packages' services and fields
    are the same in all that matters; their request types' names, their message and their enum order differ."""

    protocol_pb2: ModuleType  # Protocol: init(InitRequest) -> PluginInfo, verify(<verify_request>) -> Empty
    notification_pb2: ModuleType  # Notification: dispatch(<dispatch_request>) -> Empty
    verify_request: type[Message]
    dispatch_request: type[Message]  # its NotificationType is read with this package's own numbering
    read_message: Callable[[Any], dict[str, Any]]  # a dispatch request's message, as a 1.x message Struct reads

    @property
    def notification_type_names(self) -> dict[int, str]:
        """The notification type's name by its number in this package's enum; an unknown number has no name
        here, and ``parse_dispatch`` takes it for NONE."""
        enum = self.dispatch_request.DESCRIPTOR.enum_types_by_name["NotificationType"]
        return {value.number: value.name for value in enum.values}

    def service_name(self, short: str) -> str:
        module = self.protocol_pb2 if short == "Protocol" else self.notification_pb2
        return str(module.DESCRIPTOR.services_by_name[short].full_name)


def _read_1x_message(request: Any) -> dict[str, Any]:
    message = struct_to_dict(request.message)
    # A 1.x request names no domain: whatever a message calls domain_id is not one, and must not make its alert's
    # card keys differ from those of the same alert before the 2.x API existed.
    message.pop(DOMAIN_ID_KEY, None)
    return message


NOTIFICATION_API = PluginApi(
    protocol_pb2=protocol_pb2,
    notification_pb2=notification_pb2,
    verify_request=protocol_pb2.PluginVerifyRequest,
    dispatch_request=notification_pb2.PluginDispatchRequest,
    read_message=_read_1x_message,
)
# The distinct ``options`` an init answer is kept for (Cloudforet sends ``{}``; a few protocols' options at most).
MAX_INIT_ANSWERS = 64


class PluginServicers:
    """``Protocol`` (init, verify) and ``Notification`` (dispatch) of one ``PluginApi``, over the dispatch service."""

    def __init__(self, api: PluginApi, service: Dispatcher) -> None:
        self._api = api
        self._service = service
        self._type_names = api.notification_type_names
        self._plugin_info: Callable[..., Message] = api.protocol_pb2.PluginInfo
        self._init_answers: OrderedDict[bytes, Message] = OrderedDict()

    async def init(self, request: Any, context: Any) -> Message:
        """Called before every dispatch: instant and offline, answered from the response built for these options."""
        # A Struct's deterministic serialization orders its keys: the same options, the same key.
        key = request.options.SerializeToString(deterministic=True)
        answer = self._init_answers.get(key)
        if answer is None:
            answer = self._plugin_info(metadata=dict_to_struct(plugin_metadata(struct_to_dict(request.options))))
            self._init_answers[key] = answer
            if len(self._init_answers) > MAX_INIT_ANSWERS:
                self._init_answers.popitem(last=False)
        return answer

    async def verify(self, request: Any, context: grpc.aio.ServicerContext[Any, empty_pb2.Empty]) -> empty_pb2.Empty:
        async def run() -> empty_pb2.Empty:
            await verify_secret(self._service, struct_to_dict(request.options), struct_to_dict(request.secret_data))
            return empty_pb2.Empty()

        return await answer(context, Rpc.VERIFY, run)

    async def dispatch(self, request: Any, context: grpc.aio.ServicerContext[Any, empty_pb2.Empty]) -> empty_pb2.Empty:
        async def run() -> empty_pb2.Empty:
            parsed = parse_counted(
                channel_data=struct_to_dict(request.channel_data),
                secret_data=struct_to_dict(request.secret_data),
                message=self._api.read_message(request),
                notification_type=self._type_names.get(request.notification_type, ""),
            )
            # A retry from Cloudforet is byte-identical: that identifies repeats cheaply.
            digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
            outcome = await self._service.dispatch(parsed, digest=digest)
            context.set_trailing_metadata(((OUTCOME_METADATA_KEY, outcome.value),))
            return empty_pb2.Empty()

        return await answer(context, Rpc.DISPATCH, run)

    def handlers(self) -> ServiceHandlers:
        """The handlers by method, by full service name, parsing leniently."""
        api = self._api
        return {
            api.service_name("Protocol"): {
                "init": unary_handler(self.init, api.protocol_pb2.InitRequest, api.protocol_pb2.PluginInfo),
                "verify": unary_handler(self.verify, api.verify_request, empty_pb2.Empty),
            },
            api.service_name("Notification"): {
                "dispatch": unary_handler(self.dispatch, api.dispatch_request, empty_pb2.Empty),
            },
        }


def add_servicers(server: grpc.aio.Server, service: Dispatcher, api: PluginApi) -> tuple[str, ...]:
    """Register ``api``'s ``Protocol`` and ``Notification``, parsing leniently; return their full service names."""
    services = PluginServicers(api, service).handlers()
    register_services(server, services)
    return tuple(services)


def add_plugin_servicers(server: grpc.aio.Server, service: Dispatcher) -> tuple[str, ...]:
    """Register 1.x ``Protocol`` and ``Notification``; return their full service names."""
    return add_servicers(server, service, NOTIFICATION_API)


class Undecodable:
    """A request protobuf could not parse: nested past its depth limit (100 messages, about 32 levels of objects
    in a Struct) or not the right message at all."""


UNDECODABLE = Undecodable()


def _lenient(message_type: type[RequestT]) -> Callable[[bytes], RequestT | Undecodable]:
    def parse(data: bytes) -> RequestT | Undecodable:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return UNDECODABLE

    return parse


def _refusing_undecodable(
    handler: Callable[[RequestT, grpc.aio.ServicerContext[RequestT, ResponseT]], Awaitable[ResponseT]],
) -> Callable[[RequestT | Undecodable, grpc.aio.ServicerContext[RequestT, ResponseT]], Awaitable[ResponseT]]:
    # The context's request type only matters to streaming calls (read()); these calls are unary.
    async def handle(
        request: RequestT | Undecodable, context: grpc.aio.ServicerContext[RequestT, ResponseT]
    ) -> ResponseT:
        if isinstance(request, Undecodable):
            logger.warning("refused a request that could not be parsed")
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{ErrorCode.INVALID_MESSAGE.value}: the request could not be read; it is nested too "
                "deeply (protobuf reads about 32 levels of objects or lists) or is not well formed",
            )
        return await handler(request, context)

    return handle


def unary_handler(
    handler: Callable[[RequestT, grpc.aio.ServicerContext[RequestT, ResponseT]], Awaitable[ResponseT]],
    request_type: type[RequestT],
    response_type: type[ResponseT],
) -> grpc.RpcMethodHandler[RequestT | Undecodable, ResponseT]:
    """A unary method's handler as the generated ``add_*_to_server`` make it, but parsing leniently."""
    return grpc.unary_unary_rpc_method_handler(
        _refusing_undecodable(handler),
        request_deserializer=_lenient(request_type),
        response_serializer=response_type.SerializeToString,
    )


def register_services(server: grpc.aio.Server, services: ServiceHandlers) -> None:
    """Register handlers as the generated ``add_*_to_server`` do."""
    for name, handlers in services.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
        server.add_registered_method_handlers(name, handlers)
