"""Slack's directory, for mentions and responders: user groups by handle, users by e-mail, a user's e-mail.

Each look-up is cached per bot with a TTL, paced per bot and method at the method's Slack tier, and bounded in
time, pacing included (one deadline for everything a card or a click waits on); none ever fails a delivery or a
click: what Slack does not answer in time stays plain text. A scope the app lacks
(``missing_scope``) is logged once per bot and scope, and not asked for again until ``SCOPE_RETRY_SECONDS`` have
passed (time to add it and reinstall the app). Logs name methods, scopes and error codes, never a token or an
e-mail address.

``SlackDirectory`` is what ``bot.mentions`` (a card's mentions, a clicker's e-mail) is given as its directory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bot.core.mentions import Lookups, Resolved
from bot.core.sealed import fingerprint
from bot.pacing import Pacer
from bot.slack.errors import SlackCallError, translate
from bot.slack.web_api import SlackSender

logger = logging.getLogger(__name__)
V = TypeVar("V")


class DirectoryMethod(StrEnum):
    """The Web API methods the directory calls."""

    USERGROUPS_LIST = "usergroups.list"
    USERS_INFO = "users.info"
    USERS_LOOKUP_BY_EMAIL = "users.lookupByEmail"


@dataclass(frozen=True)
class MethodTier:
    """A method's scope, its Slack rate-limit tier (calls per minute, and a short burst), and what stops working
    without the scope."""

    scope: str
    per_minute: float
    burst: int
    without: str


# Scopes and tiers from each method's page (https://api.slack.com/methods/<method>) and the tiers' rates from
# https://api.slack.com/apis/rate-limits (Tier 2: 20+ per minute, Tier 3: 50+, Tier 4: 100+).
METHODS: dict[DirectoryMethod, MethodTier] = {
    DirectoryMethod.USERGROUPS_LIST: MethodTier("usergroups:read", 20, 2, "user group handles stay plain text"),
    DirectoryMethod.USERS_INFO: MethodTier(
        "users:read", 100, 5, "responders are named by their Slack name, not their e-mail"
    ),
    DirectoryMethod.USERS_LOOKUP_BY_EMAIL: MethodTier("users:read.email", 50, 5, "assignees stay plain text"),
}
# users.info answers without ``profile.email`` unless the app also has this scope.
EMAIL_SCOPE = "users:read.email"

# How long answers are kept. A user's address and an address's user rarely change; an unknown address may be a
# colleague who joins tomorrow; user groups are created and renamed now and then; a failure (Slack down, a revoked
# token) is asked about again after a minute rather than on every notification.
FOUND_TTL_SECONDS = 3600.0
NOT_FOUND_TTL_SECONDS = 600.0
GROUPS_TTL_SECONDS = 600.0
FAILED_TTL_SECONDS = 60.0
SCOPE_RETRY_SECONDS = 600.0
# A missing scope is logged once per bot, and again after a day if it still holds (a reminder, not a stream).
LOG_AGAIN_SECONDS = 24 * 3600.0
# Look-ups hold up their card or their click at most this long in all, waiting for their turn at the method's pace
# included (Slack answers in well under a second; README: "hold a card at most 5 s"); a look-up whose turn comes
# later is not made, and what is not answered by then stays plain text: the card goes out, or the click goes on.
LOOKUP_TIMEOUT_SECONDS = 5.0
# Look-ups skipped for want of time (pacing) are logged at most this often per bot and method (a storm skips many).
SKIPPED_LOG_SECONDS = 60.0
# Answers and pacers remembered at most (oldest forgotten first): bounded memory whatever Cloudforet sends.
MAX_REMEMBERED = 10_000
# Slack's answers that mean "no such user" (users.lookupByEmail; users.info).
NOT_FOUND_ERRORS = frozenset({"users_not_found", "user_not_found", "user_not_visible"})


class TtlCache(Generic[V]):
    """Values that expire ``ttl`` seconds after they are put, at most ``limit`` of them (oldest dropped first)."""

    def __init__(self, clock: Callable[[], float], limit: int = MAX_REMEMBERED) -> None:
        self._clock = clock
        self._limit = limit
        self._entries: OrderedDict[tuple[str, ...], tuple[float, V]] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> tuple[bool, V | None]:
        """(True, value) for a live entry, else (False, None)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] <= self._clock():
            del self._entries[key]
            return False, None
        return True, entry[1]

    def put(self, key: tuple[str, ...], value: V, ttl: float) -> None:
        if ttl <= 0:
            return
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class _Answer:
    """Slack's answer to one look-up (None: no answer to use), and how long what follows from it may be kept."""

    payload: dict[str, Any] | None
    ttl: float


class SlackDirectory:
    """Look-ups in Slack's directory with a bot token: cached, paced, bounded in time, never raising for Slack."""

    def __init__(
        self,
        sender: SlackSender,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``clock`` (monotonic seconds) times the caches, the pacers and the deadlines; ``sleep`` waits for a
        look-up's turn at the pace."""
        self._sender = sender
        self._clock = clock
        self._sleep = sleep
        self._values: TtlCache[str | None] = TtlCache(clock)  # (bot, method, key) -> user ID or e-mail
        self._groups: TtlCache[dict[str, str]] = TtlCache(clock)  # (bot,) -> user group IDs by handle
        self._pacers: OrderedDict[tuple[str, DirectoryMethod], Pacer] = OrderedDict()
        self._scope_missing: TtlCache[bool] = TtlCache(clock)  # (bot, method): do not ask until it expires
        self._logged: TtlCache[bool] = TtlCache(clock)  # (bot, scope): said once, again after LOG_AGAIN_SECONDS
        self._inflight: dict[tuple[str, ...], asyncio.Future[Any]] = {}

    # -- look-ups ------------------------------------------------------------------------------------------------

    def deadline(self) -> float:
        """The deadline (on this directory's clock) of look-ups starting now: ``LOOKUP_TIMEOUT_SECONDS`` away."""
        return self._clock() + LOOKUP_TIMEOUT_SECONDS

    async def user_by_email(self, token: str, email: str, *, deadline: float | None = None) -> str | None:
        """The user ID of the member with that address (``users.lookupByEmail``); None when Slack has no such
        member, or cannot say by ``deadline`` (``deadline()`` when not given)."""
        address = email.strip()
        bot = fingerprint(token)
        by = self.deadline() if deadline is None else deadline

        async def ask() -> tuple[str | None, float]:
            answer = await self._ask(token, bot, DirectoryMethod.USERS_LOOKUP_BY_EMAIL, {"email": address}, by)
            user = answer.payload.get("user") if answer.payload else None
            if not isinstance(user, dict) or user.get("deleted") is True or not isinstance(user.get("id"), str):
                return None, answer.ttl if answer.payload is None else NOT_FOUND_TTL_SECONDS
            return str(user["id"]), answer.ttl

        method = DirectoryMethod.USERS_LOOKUP_BY_EMAIL
        return await self._by(by, bot, method, self._cached((bot, method, address.lower()), ask), None)

    async def email_of(self, token: str, user_id: str, *, deadline: float | None = None) -> str | None:
        """A user's e-mail address (``users.info``; Slack gives it only to an app with ``users:read.email``); None
        when Slack does not give it, or not by ``deadline`` (``deadline()`` when not given)."""
        bot = fingerprint(token)
        by = self.deadline() if deadline is None else deadline

        async def ask() -> tuple[str | None, float]:
            answer = await self._ask(token, bot, DirectoryMethod.USERS_INFO, {"user": user_id}, by)
            user = answer.payload.get("user") if answer.payload else None
            if not isinstance(user, dict):
                return None, answer.ttl if answer.payload is None else NOT_FOUND_TTL_SECONDS
            profile = user.get("profile")
            email = profile.get("email") if isinstance(profile, dict) else None
            if not isinstance(email, str) or not email.strip():
                self._say_once(
                    bot,
                    EMAIL_SCOPE,
                    "Slack gave no e-mail for a user: responders are named by their "
                    "Slack name (the app needs users:read.email)",
                )
                return None, NOT_FOUND_TTL_SECONDS
            return email.strip(), answer.ttl

        method = DirectoryMethod.USERS_INFO
        return await self._by(by, bot, method, self._cached((bot, method, user_id), ask), None)

    async def group_ids(self, token: str, handles: tuple[str, ...], *, deadline: float | None = None) -> dict[str, str]:
        """The IDs of the enabled user groups with these handles (``usergroups.list``, one call per bot for all
        of them); handles Slack does not know, or not by ``deadline`` (``deadline()`` when not given), are left
        out."""
        if not handles:
            return {}
        bot = fingerprint(token)
        by = self.deadline() if deadline is None else deadline

        async def ask() -> tuple[dict[str, str], float]:
            answer = await self._ask(token, bot, DirectoryMethod.USERGROUPS_LIST, {}, by)
            groups = answer.payload.get("usergroups") if answer.payload else None
            if not isinstance(groups, list):
                return {}, answer.ttl if answer.payload is None else FAILED_TTL_SECONDS
            by_handle = {
                str(g["handle"]).lower(): str(g["id"])
                for g in groups
                if isinstance(g, dict) and isinstance(g.get("handle"), str) and isinstance(g.get("id"), str)
            }
            return by_handle, GROUPS_TTL_SECONDS

        hit, known = self._groups.get((bot,))
        if not hit or known is None:
            method = DirectoryMethod.USERGROUPS_LIST
            known = await self._by(by, bot, method, self._shared((bot, method), ask, self._groups, (bot,)), {})
        return {h: known[h] for h in handles if h in known}

    async def resolve(self, token: str, lookups: Lookups) -> Resolved:
        """Everything a card's mentions need, looked up together by one deadline (``LOOKUP_TIMEOUT_SECONDS`` from
        now, pacing included); what is not known by then is left out, and stays plain text on the card."""
        deadline = self.deadline()
        groups, assignee = await asyncio.gather(
            self.group_ids(token, lookups.handles, deadline=deadline),
            self.user_by_email(token, lookups.email, deadline=deadline) if lookups.email else _none(),
        )
        return Resolved(groups=groups, assignee=assignee)

    # -- machinery -----------------------------------------------------------------------------------------------

    async def _cached(self, key: tuple[str, ...], ask: Callable[[], Awaitable[tuple[str | None, float]]]) -> str | None:
        hit, value = self._values.get(key)
        if hit:
            return value
        return await self._shared(key, ask, self._values, key)

    async def _shared(
        self,
        flight: tuple[str, ...],
        ask: Callable[[], Awaitable[tuple[V, float]]],
        cache: TtlCache[V],
        key: tuple[str, ...],
    ) -> V:
        """One call to Slack for concurrent look-ups of the same thing; its answer is cached for its TTL."""
        future = self._inflight.get(flight)
        if future is None:

            async def run() -> V:
                try:
                    value, ttl = await ask()
                    cache.put(key, value, ttl)
                    return value
                finally:
                    self._inflight.pop(flight, None)

            future = self._inflight[flight] = asyncio.ensure_future(run())
        result: V = await asyncio.shield(future)
        return result

    async def _by(self, deadline: float, bot: str, method: DirectoryMethod, look_up: Awaitable[V], default: V) -> V:
        """``look_up``'s answer, or ``default`` once ``deadline`` passes. A call to Slack already made goes on (it is
        shared, and its answer cached for whoever asks next); a turn at the pace past the deadline is not taken."""
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock())):
                return await look_up
        except TimeoutError:
            self._say_once(
                bot,
                f"late:{method.value}",
                f"Slack did not answer {method.value} look-ups within the {LOOKUP_TIMEOUT_SECONDS:g} s a card or a "
                "click waits for them: they went on without (said at most once a minute)",
                SKIPPED_LOG_SECONDS,
            )
            return default

    def _pacer(self, bot: str, method: DirectoryMethod) -> Pacer:
        pacer = self._pacers.get((bot, method))
        if pacer is None:
            tier = METHODS[method]
            pacer = self._pacers[(bot, method)] = Pacer(tier.per_minute / 60, tier.burst, clock=self._clock)
            while len(self._pacers) > MAX_REMEMBERED:
                self._pacers.popitem(last=False)
        return pacer

    def _say_once(self, bot: str, scope: str, text: str, again_after: float = LOG_AGAIN_SECONDS) -> None:
        """Log ``text`` once per bot and scope (again ``again_after`` seconds later, if it still holds)."""
        if not self._logged.get((bot, scope))[0]:
            self._logged.put((bot, scope), True, again_after)
            logger.warning("%s", text)

    async def _ask(
        self, token: str, bot: str, method: DirectoryMethod, body: dict[str, Any], deadline: float
    ) -> _Answer:
        """One paced call, made only if its turn at the pace comes before ``deadline``, and answered by then; what
        failed is logged and answered as no answer (a skipped call as no answer to keep, so it is asked again)."""
        tier = METHODS[method]
        if self._scope_missing.get((bot, method))[0]:
            return _Answer(None, 0)
        pacer = self._pacer(bot, method)
        wait = pacer.reserve(deadline - self._clock())
        if wait is None:
            why = "Slack asked to slow down" if pacer.paused_for() else "its turn at the method's pace comes too late"
            self._say_once(
                bot,
                f"skipped:{method.value}",
                f"skipped Slack {method.value} look-ups: {why} (a card waits at most {LOOKUP_TIMEOUT_SECONDS:g} s for "
                "its mentions, which stay plain text); said at most once a minute",
                SKIPPED_LOG_SECONDS,
            )
            return _Answer(None, 0)
        if wait > 0:
            await self._sleep(wait)
            if pacer.paused_for() > 0:  # Slack said 429 meanwhile: this turn is no longer Slack's to give
                return _Answer(None, 0)
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):  # how long Slack may take, whoever still waits
                return _Answer(await self._sender.call(token, method.value, body, form=True), FOUND_TTL_SECONDS)
        except TimeoutError:
            logger.warning("Slack did not answer a %s look-up within %g s", method.value, LOOKUP_TIMEOUT_SECONDS)
            return _Answer(None, FAILED_TTL_SECONDS)
        except SlackCallError as exc:
            if exc.error in NOT_FOUND_ERRORS:
                return _Answer(None, NOT_FOUND_TTL_SECONDS)
            if exc.error == "missing_scope":
                self._scope_missing.put((bot, method), True, SCOPE_RETRY_SECONDS)
                self._say_once(
                    bot,
                    tier.scope,
                    f"the Slack app lacks the {tier.scope} scope, so {tier.without}; add the scope to the app "
                    "and reinstall it",
                )
                return _Answer(None, 0)
            error = translate(exc)
            if error.retry_after is not None:
                pacer.pause(error.retry_after)
            logger.warning("a Slack %s look-up failed: %s", method.value, error.details)
            return _Answer(None, FAILED_TTL_SECONDS)


async def _none() -> None:
    return None
