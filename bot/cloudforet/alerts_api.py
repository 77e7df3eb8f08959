"""Two-way actions through Cloudforet's own alert API (issue 19): ``AlertsApi`` implements ``bot.ports.alerts.
AlertActions`` over ``grpc.aio`` for both generations, chosen by ``BOT_CLOUDFORET_API``:

- ``notification`` (1.x): the monitoring service, ``spaceone.api.monitoring.v1`` ``Alert.update`` (``state`` a string,
  ``ACKNOWLEDGED``/``RESOLVED``), ``Note.create``; their requests carry the alert's ``domain_id``.
- ``alert-manager`` (2.x): the alert manager, ``spaceone.api.alert_manager.v1`` ``Alert.update`` (``state`` an enum),
  ``Note.create``; the App's token says the domain.

The App's key travels as the gRPC metadata ``token`` (Cloudforet's authentication reads it there), chosen per domain
(``AppKeys``). Each attempt is bounded (``CALL_TIMEOUT_SECONDS``); a call is tried again at most once, and only when
Cloudforet was UNAVAILABLE (the request cannot have been acted on). No key reaches a log line, an error or a result:
results are coded (``Outcome``) with a detail written here, Cloudforet's own text quoted only after a scrub.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
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
from bot.cloudforet.apis import AlertEndpoint, AppKeys, CloudforetApi
from bot.core.text import echo
from bot.ports.alerts import AlertAction, AlertResult, Outcome
from bot.redact import redact

log = logging.getLogger(__name__)

# One attempt's deadline. Cloudforet's update and note calls are single database writes answered in well under a
# second; a click waits at most two attempts and the pause between them (the clicker already saw the click acked).
CALL_TIMEOUT_SECONDS = 5.0
# Attempts of one call: the first, and one more only when Cloudforet was UNAVAILABLE (issue 19: "one retry at most").
MAX_ATTEMPTS = 2
# The pause before that one retry (a restarting pod behind a Service, a connection being re-established).
RETRY_DELAY_SECONDS = 0.5
# The doctor's harmless read lists alerts with this id, which no alert has: a small answer whatever the domain holds.
CHECK_ALERT_ID = "alert-slack-chatops-doctor-check"
# The gRPC metadata key Cloudforet reads the token from.
TOKEN_METADATA = "token"
# Cloudforet's error text quoted in a result's detail, at most.
MAX_QUOTED = 80

_REFUSED = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
# 1.x's ``state`` (a string) and 2.x's (an enum), by action.
_V1_STATES = {AlertAction.ACKNOWLEDGE: "ACKNOWLEDGED", AlertAction.RESOLVE: "RESOLVED"}
_V2_STATES = {
    AlertAction.ACKNOWLEDGE: am_alert_pb2.AlertUpdateRequest.ACKNOWLEDGED,
    AlertAction.RESOLVE: am_alert_pb2.AlertUpdateRequest.RESOLVED,
}

# A stub's method bound to its request: called with ``metadata=`` and ``timeout=``.
Call = Callable[..., Awaitable[Any]]


def outcome_of(code: grpc.StatusCode) -> Outcome:
    """What a gRPC status means for a two-way action."""
    if code in _REFUSED:
        return Outcome.REFUSED_KEY
    if code is grpc.StatusCode.NOT_FOUND:
        return Outcome.NOT_FOUND
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Outcome.TIMEOUT
    if code is grpc.StatusCode.UNAVAILABLE:
        return Outcome.UNAVAILABLE
    return Outcome.FAILED


class AlertsApi:
    """``AlertActions`` over Cloudforet's alert API; see the module docstring. The channel opens on first use."""

    def __init__(
        self,
        api: CloudforetApi,
        endpoint: AlertEndpoint,
        keys: AppKeys,
        *,
        timeout: float = CALL_TIMEOUT_SECONDS,
        retry_delay: float = RETRY_DELAY_SECONDS,
        root_certificates: bytes | None = None,
    ) -> None:
        self.api = api
        self.endpoint = endpoint
        self._keys = keys
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._root_certificates = root_certificates
        self._channel: grpc.aio.Channel | None = None

    def __repr__(self) -> str:
        return f"AlertsApi({self.api.value}, {self.endpoint}, {self._keys!r})"

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self.endpoint.tls:
                credentials = grpc.ssl_channel_credentials(root_certificates=self._root_certificates)
                self._channel = grpc.aio.secure_channel(self.endpoint.target, credentials)
            else:
                self._channel = grpc.aio.insecure_channel(self.endpoint.target)
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    # -- the port ----------------------------------------------------------------------------------------------

    async def acknowledge(self, alert_id: str, domain_id: str) -> AlertResult:
        return await self._update(AlertAction.ACKNOWLEDGE, alert_id, domain_id)

    async def resolve(self, alert_id: str, domain_id: str) -> AlertResult:
        return await self._update(AlertAction.RESOLVE, alert_id, domain_id)

    async def add_note(self, alert_id: str, domain_id: str, note: str) -> AlertResult:
        channel = self._open()
        call: Call
        if self.api is CloudforetApi.NOTIFICATION:
            v1_request = v1_note_pb2.CreateNoteRequest(alert_id=alert_id, note=note, domain_id=domain_id)
            v1_create = v1_note_grpc.NoteStub(channel).create
            call = partial(v1_create, v1_request)
        else:
            am_request = am_note_pb2.NoteCreateRequest(alert_id=alert_id, note=note)
            am_create = am_note_grpc.NoteStub(channel).create
            call = partial(am_create, am_request)
        return await self._call(AlertAction.ADD_NOTE, alert_id, domain_id, call)

    async def check(self, domain_id: str | None = None) -> AlertResult:
        channel = self._open()
        call: Call
        if self.api is CloudforetApi.NOTIFICATION:
            v1_query = v1_alert_pb2.AlertQuery(alert_id=CHECK_ALERT_ID, domain_id=domain_id or "")
            v1_list = v1_alert_grpc.AlertStub(channel).list
            call = partial(v1_list, v1_query)
        else:
            am_query = am_alert_pb2.AlertSearchQuery(alert_id=CHECK_ALERT_ID)
            am_list = am_alert_grpc.AlertStub(channel).list
            call = partial(am_list, am_query)
        return await self._call(AlertAction.CHECK, "", domain_id, call)

    # -- the calls ---------------------------------------------------------------------------------------------

    async def _update(self, action: AlertAction, alert_id: str, domain_id: str) -> AlertResult:
        channel = self._open()
        call: Call
        if self.api is CloudforetApi.NOTIFICATION:
            v1_request = v1_alert_pb2.UpdateAlertRequest(
                alert_id=alert_id, state=_V1_STATES[action], domain_id=domain_id
            )
            v1_update = v1_alert_grpc.AlertStub(channel).update
            call = partial(v1_update, v1_request)
        else:
            am_request = am_alert_pb2.AlertUpdateRequest(alert_id=alert_id, status=_V2_STATES[action])
            am_update = am_alert_grpc.AlertStub(channel).update
            call = partial(am_update, am_request)
        return await self._call(action, alert_id, domain_id, call)

    def _detail(self, text: str) -> str:
        """Cloudforet's text, safe to show: no key (whichever), no URL's path, at most ``MAX_QUOTED`` characters."""
        for secret in self._keys.secrets():
            text = text.replace(secret, "[secret]")
        return echo(redact(text), MAX_QUOTED)

    async def _call(self, action: AlertAction, alert_id: str, domain_id: str | None, call: Call) -> AlertResult:
        started = time.monotonic()
        key = self._keys.for_domain(domain_id)
        where = f"domain {domain_id}" if domain_id else "the default domain"
        if key is None:
            result = AlertResult(
                Outcome.REFUSED_KEY,
                action,
                f"no App key for {where}: set BOT_CLOUDFORET_APP_KEY, or add the domain to BOT_CLOUDFORET_APP_KEYS",
                attempts=0,
            )
            self._log(result, alert_id, domain_id)
            return result
        metadata = [(TOKEN_METADATA, key)]
        attempts = 0
        while True:
            attempts += 1
            try:
                await call(metadata=metadata, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                outcome = outcome_of(code)
                if outcome is Outcome.UNAVAILABLE and attempts < MAX_ATTEMPTS:
                    await asyncio.sleep(self.retry_delay)
                    continue
                result = AlertResult(
                    outcome,
                    action,
                    self._describe(outcome, code, exc.details() or "", where),
                    attempts=attempts,
                    elapsed=time.monotonic() - started,
                )
                break
            else:
                result = AlertResult(
                    Outcome.DONE, action, "done", attempts=attempts, elapsed=time.monotonic() - started
                )
                break
        self._log(result, alert_id, domain_id)
        return result

    def _describe(self, outcome: Outcome, code: grpc.StatusCode, details: str, where: str) -> str:
        said = f" ({self._detail(details)})" if details else ""
        if outcome is Outcome.REFUSED_KEY:
            return (
                f"Cloudforet refused the App key for {where} ({code.name}){said}: check the key and that the App's "
                "role may update alerts and create notes"
            )
        if outcome is Outcome.NOT_FOUND:
            return f"Cloudforet does not know the alert (NOT_FOUND){said}"
        if outcome is Outcome.TIMEOUT:
            return f"Cloudforet did not answer within {self.timeout:g} s at {self.endpoint}"
        if outcome is Outcome.UNAVAILABLE:
            return f"Cloudforet is unreachable at {self.endpoint} (UNAVAILABLE){said}"
        return f"Cloudforet answered {code.name}{said}"

    def _log(self, result: AlertResult, alert_id: str, domain_id: str | None) -> None:
        level = logging.INFO if result.ok else logging.WARNING
        log.log(
            level,
            "cloudforet %s %s: %s after %d attempt(s), %.2f s%s",
            result.action.value,
            echo(alert_id, 40) or "-",
            result.outcome.value,
            result.attempts,
            result.elapsed,
            "" if result.ok else f": {result.detail}",
            extra={"domain_id": domain_id or ""},
        )
