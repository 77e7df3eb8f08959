"""Repeat suppression: a dispatch identical to one accepted within the repeat window is a retry from Cloudforet.

Each dispatch is known by a digest of what makes it what it is (see ``bot.dispatch.dispatch_digest``); the filter
remembers when each digest was last seen, oldest first, and forgets digests as they fall out of the window, so its
memory follows the dispatches of the last window, not every dispatch ever seen.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RepeatFilter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # digest -> when last seen, oldest first

    def is_repeat(self, digest: str, window: float) -> bool:
        """Whether ``digest`` was seen within the last ``window`` seconds; either way it counts as seen now."""
        now = self._clock()
        horizon = now - window
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)
        last = self._seen.get(digest)
        seen = last is not None and last >= horizon
        self._seen[digest] = now
        self._seen.move_to_end(digest)
        return seen

    def forget(self, digest: str) -> None:
        """Let the same dispatch through again at once (its delivery failed for good, and may be retried)."""
        self._seen.pop(digest, None)

    def __len__(self) -> int:
        return len(self._seen)
