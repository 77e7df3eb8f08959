"""A local fake of Cloudforet's own alert API, both generations, served from the generated stubs of Cloudforet's
protos (``proto/spaceone/api/{monitoring,alert_manager}/v1``) on loopback.

- 1.x (``notification``): ``spaceone.api.monitoring.v1`` ``Alert.update`` (``state`` a string: TRIGGERED,
  ACKNOWLEDGED or RESOLVED), ``Alert.list``, ``Note.create``; requests carry ``domain_id``, which must be the
  token's domain (1.x refuses another domain's with PERMISSION_DENIED).
- 2.x (``alert-manager``): ``spaceone.api.alert_manager.v1`` ``Alert.update`` (``state`` an enum: TRIGGERED,
  ACKNOWLEDGED, RESOLVED), ``Alert.list``, ``Note.create``; the token says the domain.

Like Cloudforet: no ``token`` metadata or an unknown one is UNAUTHENTICATED; a token whose App's role may only read
is PERMISSION_DENIED for update and create; an alert the token's domain does not have is NOT_FOUND; a bad state or
an empty note is INVALID_ARGUMENT. Every call is recorded in ``calls`` (rejected ones too); ``fail`` makes the next
calls of a method answer a gRPC error, ``delay`` makes every answer slow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc

from bot.cloudforet._proto.spaceone.api.alert_manager.v1 import alert_pb2 as am_alert_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.v1 import alert_pb2_grpc as am_alert_grpc
from bot.cloudforet._proto.spaceone.api.alert_manager.v1 import note_pb2 as am_note_pb2
from bot.cloudforet._proto.spaceone.api.alert_manager.v1 import note_pb2_grpc as am_note_grpc
from bot.cloudforet._proto.spaceone.api.monitoring.v1 import alert_pb2 as v1_alert_pb2
from bot.cloudforet._proto.spaceone.api.monitoring.v1 import alert_pb2_grpc as v1_alert_grpc
from bot.cloudforet._proto.spaceone.api.monitoring.v1 import note_pb2 as v1_note_pb2
from bot.cloudforet._proto.spaceone.api.monitoring.v1 import note_pb2_grpc as v1_note_grpc
from bot.cloudforet.apis import CloudforetApi

__all__ = ["AlertCall", "FakeAlertApi"]

V1_STATES = {"TRIGGERED", "ACKNOWLEDGED", "RESOLVED"}
AM_STATES = {
    am_alert_pb2.AlertUpdateRequest.TRIGGERED: "TRIGGERED",
    am_alert_pb2.AlertUpdateRequest.ACKNOWLEDGED: "ACKNOWLEDGED",
    am_alert_pb2.AlertUpdateRequest.RESOLVED: "RESOLVED",
}


@dataclass(frozen=True)
class AlertCall:
    """One call as received: ``method`` (``Alert.update``, ``Alert.list``, ``Note.create``), its fields, the token
    it carried (None: none), and the status it was answered with (OK or the error's)."""

    method: str
    fields: dict[str, Any]
    token: str | None
    status: grpc.StatusCode


@dataclass
class _App:
    domain_id: str
    may_write: bool


@dataclass
class _Alert:
    domain_id: str
    state: str = "TRIGGERED"
    notes: list[str] = field(default_factory=list)


class _Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class FakeAlertApi:
    """Cloudforet's alert API on 127.0.0.1 (a free port), for one API generation. See the module docstring."""

    def __init__(self, api: CloudforetApi) -> None:
        self.api = api
        self.calls: list[AlertCall] = []
        self.delay = 0.0
        self.port = 0
        self._apps: dict[str, _App] = {}
        self._alerts: dict[str, _Alert] = {}
        self._failures: dict[str, list[grpc.StatusCode]] = {}
        self._server: grpc.aio.Server | None = None

    # -- set-up ------------------------------------------------------------------------------------------------

    def add_app(self, token: str, domain_id: str, *, may_write: bool = True) -> None:
        """An App's client secret, its domain, and whether its role may update alerts and create notes."""
        self._apps[token] = _App(domain_id, may_write)

    def add_alert(self, alert_id: str, domain_id: str, state: str = "TRIGGERED") -> None:
        self._alerts[alert_id] = _Alert(domain_id, state)

    def state(self, alert_id: str) -> str:
        return self._alerts[alert_id].state

    def notes(self, alert_id: str) -> list[str]:
        return list(self._alerts[alert_id].notes)

    def fail(self, method: str, code: grpc.StatusCode, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``code`` (after the token is checked, as Cloudforet would
        answer a failure of its own)."""
        self._failures.setdefault(method, []).extend([code] * times)

    def calls_of(self, method: str) -> list[AlertCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def endpoint(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        server = grpc.aio.server()
        if self.api is CloudforetApi.NOTIFICATION:
            v1_alert_grpc.add_AlertServicer_to_server(_V1Alert(self), server)
            v1_note_grpc.add_NoteServicer_to_server(_V1Note(self), server)
        else:
            am_alert_grpc.add_AlertServicer_to_server(_AmAlert(self), server)
            am_note_grpc.add_NoteServicer_to_server(_AmNote(self), server)
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def __aenter__(self) -> FakeAlertApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what every method does --------------------------------------------------------------------------------

    async def handle(self, method: str, fields: dict[str, Any], context: grpc.aio.ServicerContext[Any, Any]) -> _App:
        """Record the call, wait ``delay``, check the token and any failure set for ``method``; the App, or abort."""
        token = next((str(v) for k, v in context.invocation_metadata() or () if k == "token"), None)
        status = grpc.StatusCode.OK
        try:
            app = self._authenticate(method, token)
            failures = self._failures.get(method)
            if failures:
                code = failures.pop(0)
                raise _Refusal(code, f"ERROR_{code.name}: the fake was told to fail")
            return app
        except _Refusal as refusal:
            status = refusal.code
            raise
        finally:
            self.calls.append(AlertCall(method, fields, token, status))
            if self.delay:
                await asyncio.sleep(self.delay)

    def _authenticate(self, method: str, token: str | None) -> _App:
        if not token:
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "ERROR_AUTHENTICATE_FAILURE: token is missing")
        app = self._apps.get(token)
        if app is None:
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "ERROR_AUTHENTICATE_FAILURE: token is invalid")
        if method != "Alert.list" and not app.may_write:
            raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, f"ERROR_PERMISSION_DENIED: {method}")
        return app

    def alert(self, app: _App, alert_id: str, domain_id: str | None = None) -> _Alert:
        if not alert_id:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REQUIRED_PARAMETER: alert_id")
        if domain_id is not None and domain_id != app.domain_id:
            raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, "ERROR_PERMISSION_DENIED: domain_id")
        found = self._alerts.get(alert_id)
        if found is None or found.domain_id != app.domain_id:
            raise _Refusal(grpc.StatusCode.NOT_FOUND, f"ERROR_NOT_FOUND: alert_id = {alert_id}")
        return found

    def listed(self, app: _App, alert_id: str) -> list[str]:
        return [
            known
            for known, alert in self._alerts.items()
            if alert.domain_id == app.domain_id and (not alert_id or known == alert_id)
        ]


async def _answer(context: grpc.aio.ServicerContext[Any, Any], work: Any) -> Any:
    try:
        return work()
    except _Refusal as refusal:
        await context.abort(refusal.code, refusal.details)


def _note(alert: _Alert, note: str) -> None:
    if not note.strip():
        raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REQUIRED_PARAMETER: note")
    alert.notes.append(note)


class _V1Alert(v1_alert_grpc.AlertServicer):
    def __init__(self, fake: FakeAlertApi) -> None:
        self.fake = fake

    async def update(self, request: Any, context: Any) -> Any:
        fields = {"alert_id": request.alert_id, "state": request.state, "domain_id": request.domain_id}
        app = await _guard(self.fake, "Alert.update", fields, context)

        def work() -> Any:
            if request.state not in V1_STATES:
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "ERROR_INVALID_PARAMETER: state")
            alert = self.fake.alert(app, request.alert_id, request.domain_id)
            alert.state = request.state
            return v1_alert_pb2.AlertInfo(alert_id=request.alert_id, state=alert.state, domain_id=alert.domain_id)

        return await _answer(context, work)

    async def list(self, request: Any, context: Any) -> Any:
        fields = {"alert_id": request.alert_id, "domain_id": request.domain_id}
        app = await _guard(self.fake, "Alert.list", fields, context)

        def work() -> Any:
            if request.domain_id and request.domain_id != app.domain_id:
                raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, "ERROR_PERMISSION_DENIED: domain_id")
            found = self.fake.listed(app, request.alert_id)
            results = [v1_alert_pb2.AlertInfo(alert_id=a, domain_id=app.domain_id) for a in found]
            return v1_alert_pb2.AlertsInfo(results=results, total_count=len(found))

        return await _answer(context, work)


class _V1Note(v1_note_grpc.NoteServicer):
    def __init__(self, fake: FakeAlertApi) -> None:
        self.fake = fake

    async def create(self, request: Any, context: Any) -> Any:
        fields = {"alert_id": request.alert_id, "note": request.note, "domain_id": request.domain_id}
        app = await _guard(self.fake, "Note.create", fields, context)

        def work() -> Any:
            alert = self.fake.alert(app, request.alert_id, request.domain_id)
            _note(alert, request.note)
            note_id = f"note-{len(alert.notes)}"
            return v1_note_pb2.NoteInfo(note_id=note_id, alert_id=request.alert_id, note=request.note)

        return await _answer(context, work)


class _AmAlert(am_alert_grpc.AlertServicer):
    def __init__(self, fake: FakeAlertApi) -> None:
        self.fake = fake

    async def update(self, request: Any, context: Any) -> Any:
        fields = {"alert_id": request.alert_id, "status": request.status}
        app = await _guard(self.fake, "Alert.update", fields, context)

        def work() -> Any:
            if request.status not in AM_STATES:
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "ERROR_INVALID_PARAMETER: status")
            alert = self.fake.alert(app, request.alert_id)
            alert.state = AM_STATES[request.status]
            return am_alert_pb2.AlertInfo(alert_id=request.alert_id, status=request.status, domain_id=alert.domain_id)

        return await _answer(context, work)

    async def list(self, request: Any, context: Any) -> Any:
        app = await _guard(self.fake, "Alert.list", {"alert_id": request.alert_id}, context)

        def work() -> Any:
            found = self.fake.listed(app, request.alert_id)
            results = [am_alert_pb2.AlertInfo(alert_id=a, domain_id=app.domain_id) for a in found]
            return am_alert_pb2.AlertsInfo(results=results, total_count=len(found))

        return await _answer(context, work)


class _AmNote(am_note_grpc.NoteServicer):
    def __init__(self, fake: FakeAlertApi) -> None:
        self.fake = fake

    async def create(self, request: Any, context: Any) -> Any:
        fields = {"alert_id": request.alert_id, "note": request.note}
        app = await _guard(self.fake, "Note.create", fields, context)

        def work() -> Any:
            alert = self.fake.alert(app, request.alert_id)
            _note(alert, request.note)
            note_id = f"note-{len(alert.notes)}"
            return am_note_pb2.NoteInfo(note_id=note_id, alert_id=request.alert_id, note=request.note)

        return await _answer(context, work)


async def _guard(
    fake: FakeAlertApi, method: str, fields: dict[str, Any], context: grpc.aio.ServicerContext[Any, Any]
) -> _App:
    try:
        return await fake.handle(method, fields, context)
    except _Refusal as refusal:
        await context.abort(refusal.code, refusal.details)
        raise AssertionError("abort returned") from None
