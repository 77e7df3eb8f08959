"""Pacing: a token bucket per Slack rate limit, which Slack's own ``Retry-After`` can pause further.

Plain code on a clock, shared by whoever calls Slack at a pace (the outbox's lanes, the directory's look-ups); it
imports nothing of the plugin but the core, so any layer may use it. The bucket shared by replicas through the
store is ``bot.delivery.pacer.SharedPacer``.

Slack allows ``chat.postMessage`` about one message per second per channel with short bursts
(https://api.slack.com/methods/chat.postMessage#rate_limiting) and ``chat.update`` at Tier 3, about 50 per
minute per workspace (https://api.slack.com/apis/rate-limits). Sending at that pace, rather than into 429s,
is what keeps an alert storm from being throttled into loss.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from bot.core.limits import DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS

# A little under the advertised pace: our send time and Slack's arrival time differ by network jitter. Slack's
# per-channel limit tolerates short bursts, so jitter would have to pile up a whole burst's worth (seconds) before
# a send at 97% of the pace met a 429; 3% keeps a storm within 1.03x of the fastest the limit allows (issue 17:
# at most 1.05x; 0.95 gave 1.053x).
SAFETY = 0.97
# A token this close to whole counts as whole: the refill arithmetic leaves waits of ~1e-13 s, which a clock that does
# not move between two reads (a virtual one, or a coarse one) would wait out forever.
WHOLE_TOKEN = 1 - 1e-9
# The longest a pause can hold a lane: the same bound as any Retry-After (``bot.core.limits``), so no value, however
# it reaches us, keeps items waiting until a restart.
MAX_PAUSE_SECONDS = MAX_RETRY_AFTER_SECONDS


def pause_seconds(seconds: float) -> float:
    """How long a pause of ``seconds`` holds: within ``[0, MAX_PAUSE_SECONDS]``, and
    ``DEFAULT_RETRY_AFTER_SECONDS`` for NaN."""
    return DEFAULT_RETRY_AFTER_SECONDS if math.isnan(seconds) else min(max(seconds, 0.0), MAX_PAUSE_SECONDS)


class Pacer:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        """``rate`` per second (0 = unpaced), up to ``burst`` at once."""
        self.rate = rate * SAFETY if rate > 0 else 0.0
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._paused_until = 0.0

    def _refill(self) -> None:
        now = self._clock()
        if now > self._stamp:  # after a pause the stamp lies ahead: nothing accrues until then
            if self.rate:
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def wait_time(self) -> float:
        """Seconds until the next send may go."""
        now = self._clock()
        pause = max(0.0, self._paused_until - now)
        if not self.rate:
            return pause
        self._refill()
        return max(pause, 0.0 if self._tokens >= WHOLE_TOKEN else (1 - self._tokens) / self.rate)

    def eta(self, ahead: int) -> float:
        """Roughly how long until ``ahead`` more sends have gone and the next may go."""
        pause = max(0.0, self._paused_until - self._clock())
        if not self.rate:
            return pause
        self._refill()
        return pause + max(0.0, ahead + 1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        while (wait := self.wait_time()) > 0:  # noqa: ASYNC110 - waiting out a deadline, not an event
            await asyncio.sleep(wait)
        if self.rate:
            self._tokens -= 1

    def reserve(self, within: float) -> float | None:
        """Take the next turn if it comes within ``within`` seconds, and say in how many seconds it comes; None,
        taking nothing, when it comes later. A turn is taken at once (the bucket may go below zero), so callers
        that reserve together are given successive turns, not all the same free moment. For callers that give up
        rather than wait long (look-ups a card waits for); ``acquire`` waits for whatever turn is free."""
        now = self._clock()
        pause = max(0.0, self._paused_until - now)
        if not self.rate:
            return pause if pause <= within else None
        self._refill()
        # tokens accrue from the stamp (after a pause it lies ahead), one turn costs one token
        short = 0.0 if self._tokens >= WHOLE_TOKEN else 1 - self._tokens
        wait = max(pause, max(0.0, self._stamp - now) + short / self.rate)
        if wait > within:
            return None
        self._tokens -= 1
        return wait

    def paused_for(self) -> float:
        """Seconds left of a pause Slack asked for (``pause``); 0 when none."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        """Slack said 429: nothing goes before ``seconds`` from now (at most ``MAX_PAUSE_SECONDS``), and the bucket
        starts empty."""
        seconds = pause_seconds(seconds)
        self._refill()
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0
        self._stamp = self._paused_until
