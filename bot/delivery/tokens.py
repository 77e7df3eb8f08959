"""The token vault: Slack tokens sealed for the store, opened again for delivery, and which bot serves which channel.

The store never holds a token in the clear: outbox items, cards and remembered app-level tokens keep it sealed
with the button keys (``bot.button_keys``), so whoever reads the database file learns nothing they can use, and
a key rotation (``BOT_BUTTON_KEY``) still opens what older keys sealed. Sealing is an AES-GCM encryption with a
fresh nonce, so the sealed form of each recent token is kept and reused: a storm of dispatches seals once.

The vault also remembers, in memory only, the bot token that last posted in each channel: a click on a card
checks the clicker's user groups with that channel's bot.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.button_keys import ButtonKeys
from bot.core.sealed import SealError, seal, unseal

# Tokens and channels remembered at most (oldest forgotten first): far more than a deployment's bots and alert
# channels, and a bounded memory (some 100 bytes each) whatever Cloudforet sends.
MAX_REMEMBERED = 10_000
_TOKEN_FIELD = "t"  # the sealed payload: {"t": token}, as stored since the first schema


class TokenVault:
    def __init__(self, keys: ButtonKeys, *, limit: int = MAX_REMEMBERED) -> None:
        self._keys = keys
        self._limit = limit
        self._sealed: OrderedDict[str, str] = OrderedDict()  # token -> its sealed form
        self._generation = keys.generation  # of the sealing key the sealed forms were made with
        self._channel_tokens: OrderedDict[str, str] = OrderedDict()  # channel ID -> bot token that last posted

    def seal(self, token: str) -> str:
        """The token sealed for the store (the same sealed form while the token stays among the recent ones)."""
        if self._generation != self._keys.generation:  # the sealing key changed: seal anew with it
            self._sealed.clear()
            self._generation = self._keys.generation
        sealed = self._sealed.get(token)
        if sealed is None:
            sealed = self._sealed[token] = seal({_TOKEN_FIELD: token}, self._keys.sealing_key)
            if len(self._sealed) > self._limit:
                self._sealed.popitem(last=False)
        return sealed

    def open(self, sealed: str) -> str:
        """The token inside a sealed value; ``SealError`` when no key we hold sealed it (or it was altered)."""
        token = unseal(sealed, self._keys.opening_keys).get(_TOKEN_FIELD)
        if not isinstance(token, str):  # sealed by us, but not a token (a button value)
            raise SealError("the sealed value holds no token")
        return token

    def posted_in(self, channel_id: str, token: str) -> None:
        """``token``'s bot just posted in ``channel_id``."""
        self._channel_tokens[channel_id] = token
        self._channel_tokens.move_to_end(channel_id)
        if len(self._channel_tokens) > self._limit:
            self._channel_tokens.popitem(last=False)

    def token_for_channel(self, channel_id: str) -> str | None:
        """The bot token that last posted in ``channel_id`` since the process started, if any."""
        return self._channel_tokens.get(channel_id)
