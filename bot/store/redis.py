"""The shared store: Redis, for any number of replicas serving the same Slack app (``BOT_STORE_URL``).

Every method is one atomic step: a single command, a ``MULTI`` block, or a Lua script (registered once, run by
``EVALSHA``, loaded again by redis-py after a restart forgot it) where several keys must change together. There
is no multi-call transaction (``transaction()`` is a no-op): no caller needs one across methods.

Key layout (``P`` is the prefix, ``slack-chatops`` by default, so a Redis shared with Cloudforet is not polluted):

===================================  ===========  =========================================================
key                                  type         what
===================================  ===========  =========================================================
``P:layout``                         string       the key layout's version (``bot.ports.schema.REDIS_LAYOUT``),
                                                  written at connect; a newer one is refused
``P:claim:<key>``                    hash         a click's claim: ``actor``, ``at``, ``done`` (Redis' time),
                                                  ``v`` (layout; none: 1);
                                                  expires after its ``stale_after`` while in progress,
                                                  CLAIM_RETENTION_SECONDS after it is done
``P:audit``                          list         audit records (JSON), newest first, capped at MAX_AUDIT_RECORDS
``P:app-tokens``                     hash         token id -> JSON ``[added_at, seq, sealed token]``
``P:app-tokens:seq``                 string       counter ordering app tokens added at the same instant
``P:outbox:next-id``                 string       the outbox item id counter (``INCR``)
``P:outbox:item:<id>``               hash         ``lane kind body token created_at attempts`` (+ ``state
                                                  error finished_at`` once failed, when its body is cut to
                                                  MAX_FAILED_ITEM_BYTES and it expires after
                                                  FAILED_ITEM_RETENTION_SECONDS); deleted when delivered
``P:outbox:pending``                 sorted set   pending item ids, scored by id (oldest first)
``P:outbox:lane:<lane>``             sorted set   one lane's pending item ids, scored by id
``P:outbox:lanes``                   set          the lanes that have pending items (the lane index)
``P:outbox:failed``                  sorted set   failed item ids, scored by id (kept for the operator)
``P:outbox:failed-at``               sorted set   failed item ids, scored by when they failed (for pruning)
``P:outbox:failed-bytes``            string       the bytes failed items' bodies keep (at most MAX_FAILED_BYTES)
``P:card:next-id``                   string       the card id counter
``P:card:seq``                       string       counter ordering each card's alert names as learnt
``P:card:<id>``                      string       the card (JSON of ``schema.StoredCard``: ``v``, none: 1)
``P:card:<id>:keys``                 sorted set   the card's alert names, in the order they were (re)learnt
``P:card-key:<bot>:<channel>:<key>`` string       card id of the alert named ``<key>`` in that bot's channel
``P:card-at:<channel>:<ts>``         string       card id of the Slack message ``ts`` in ``channel``
``P:channel:<bot>:<name>``           string       a channel name's ID, as learnt by ``save_card``
``P:seen:<digest>``                  string       the id of a recent dispatch's item (repeat suppression, set by
                                                  the enqueue script), expires after its window
``P:secret:<name>``                  string       a secret shared by every replica (``shared_secret``)
``P:secret:<name>:all``              sorted set   every value that secret has had (``sync_secret``), bounded
``P:lease:<name>``                   string       who holds the lease (a lane's deliverer), expires after its ttl
``P:sending:<lane>``                 string       ``owner|item id``: the lane's item being sent (``begin_send``),
                                                  deleted when that item is settled
``P:events``                         channel      pub/sub: ``queued|id|lane``, ``delivered|id|``, ``failed|id|error``
===================================  ===========  =========================================================

A card, its message pointer and its alert-name pointers expire together, RESOLVED_CARD_RETENTION_SECONDS (resolved)
or OPEN_CARD_RETENTION_SECONDS (otherwise) after the card's last save; a learnt channel name after
OPEN_CARD_RETENTION_SECONDS. ``prune`` covers what expiry cannot: failed outbox items past their age or the caps
(and the ids of those that expired), audit records past their age. Bot fingerprints and channel IDs hold no ``:``,
so the last part of a key (alert name, channel name, lane, digest) is unambiguous whatever it holds.

Some scripts build key names from the prefix (an item id known only inside the script, a card's learnt names), so
the store wants one Redis (standalone, or behind Sentinel), not Redis Cluster.

Connections have short timeouts (``CONNECT_TIMEOUT_SECONDS``, ``COMMAND_TIMEOUT_SECONDS``) and one immediate retry
on a refused or broken connection (a pooled connection Redis dropped when it restarted), never on a timeout, so a
dead or hung Redis fails a call within a few seconds as ``StoreError``. No message names the URL's password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, RedisError, ResponseError

from bot.core.cards import CardStatus
from bot.core.compact import failed_body
from bot.core.models import is_channel_id
from bot.ports.schema import (
    CLAIM_LAYOUT,
    REDIS_LAYOUT,
    StoredCard,
    check_claim,
    check_store,
    read_card,
)
from bot.ports.store import (
    AUDIT_RETENTION_SECONDS,
    CLAIM_RETENTION_SECONDS,
    FAILED_BYTES_KEPT_AFTER_DROP,
    FAILED_ITEM_RETENTION_SECONDS,
    MAX_AUDIT_RECORDS,
    MAX_FAILED_BYTES,
    MAX_FAILED_ITEM_BYTES,
    MAX_FAILED_ITEMS,
    OPEN_CARD_RETENTION_SECONDS,
    RESOLVED_CARD_RETENTION_SECONDS,
    SENDING_MARK_SECONDS,
    AuditRecord,
    CardQuery,
    CardRecord,
    Claim,
    ClaimStatus,
    FoundCard,
    ItemKind,
    ItemState,
    OutboxEntry,
    OutboxEvent,
    OutboxItem,
    SendGrant,
    SendOutcome,
    StoreError,
    readable_audit,
    readable_entry,
    strongest_card,
)
from bot.redact import redact

DEFAULT_PREFIX = "slack-chatops"
SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379  # Redis's registered port
# A dead Redis must fail a call within a bounded time (the caller retries later), not hold a request or the
# delivery loop: a connection is given 2 s to open, a command 2 s to answer.
CONNECT_TIMEOUT_SECONDS = 2.0
COMMAND_TIMEOUT_SECONDS = 2.0
# A pooled connection idle longer than this is PINGed before use (redis-py's health check), so one Redis dropped
# while idle is replaced rather than failing the next call.
HEALTH_CHECK_SECONDS = 30
# Retries of a refused or broken connection, at once (NoBackoff): one replaces a pooled connection a restarted
# Redis dropped; a Redis that is down fails again just as fast. Timeouts are never retried (that would double the
# bound above).
CONNECTION_RETRIES = 1
# How long one wait for a pub/sub message lasts (then it waits again): well inside the command timeout.
EVENT_WAIT_SECONDS = 1.0
# Shared secrets (the button key) remembered at most: each made after the store lost its data adds one.
MAX_SHARED_SECRETS = 16
# Ids handed to one pruning script at a time, so a large backlog never blocks Redis for long.
PRUNE_BATCH = 500
# The longest part of a Redis error quoted in a StoreError.
MAX_ERROR_CHARS = 200
# The path of BOT_STORE_URL: nothing, or the database number (redis-py reads any other path as database 0).
_DB_PATH = re.compile(r"/?|/\d+/?")
# How Python names a keyword argument a connection does not take: an option redis-py does not know.
_UNKNOWN_OPTION = re.compile(r"unexpected keyword argument '(\w+)'")
# A Slack channel ID (public, private, DM), as opposed to a channel name (the same rule as the embedded store).
# Redis error codes that say the server or the data cannot serve just now (memory full, a replica, a script
# running, a persistence failure, another program's value under one of our keys): store errors, even when a command
# in one of our scripts meets them.
_CONDITION_CODES = re.compile(
    r"\b(?:WRONGTYPE|OOM|READONLY|BUSY|MASTERDOWN|MISCONF|LOADING|NOREPLICAS|TRYAGAIN|NOPERM|NOAUTH)\b"
)

_NEWER = "newer"  # the claim script's answer for a claim of a newer layout (not a ClaimStatus: it is refused)

P = ParamSpec("P")
R = TypeVar("R")

# A claim is timed by Redis' own clock (TIME) and expires by Redis' TTL, so replicas whose clocks disagree still see
# one claim: an action in progress stays claimed for ``stale_after`` (the key's TTL, however long ago any replica
# thinks it was claimed), and a done one for CLAIM_RETENTION_SECONDS. ``at`` is Redis' time, for the clicker to read.
# A claim of a newer layout (its ``v`` above ARGV[3]) is left as it is and answered 'newer' with that ``v``.
# KEYS: claim. ARGV: actor, stale_after_ms, the newest claim layout known. Returns {status, actor, at[, v]}.
_CLAIM = """
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local held = redis.call('HMGET', KEYS[1], 'actor', 'at', 'done', 'v')
if held[4] and (tonumber(held[4]) or math.huge) > tonumber(ARGV[3]) then return {'newer', '', '0', held[4]} end
if held[1] then
  if held[3] then return {'done', held[1], held[3]} end
  -- in progress: live until its TTL runs out (one kept by an older version for longer is cut to stale_after)
  if redis.call('PTTL', KEYS[1]) > tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {'in_progress', held[1], held[2]}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'actor', ARGV[1], 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'claimed', ARGV[1], now}
"""

# KEYS: layout. ARGV: this release's layout. Returns the layout the store has (written when it had none).
_LAYOUT = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""

# KEYS: claim. ARGV: '1' (done) or '0' (release), ttl_ms. Done is stamped with Redis' time and kept for ttl_ms.
_FINISH = """
if ARGV[1] == '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    local t = redis.call('TIME')
    redis.call('HSET', KEYS[1], 'done', t[1] .. '.' .. string.format('%06d', tonumber(t[2])))
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
elseif redis.call('HEXISTS', KEYS[1], 'done') == 0 then
  redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: audit list. ARGV: record JSON, cap.
_ADD_AUDIT = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 0
"""

# KEYS: audit list. ARGV: cutoff, most to drop. Drops records older than the cutoff from the old end.
_TRIM_AUDIT = """
local dropped = 0
while dropped < tonumber(ARGV[2]) do
  local last = redis.call('LINDEX', KEYS[1], -1)
  if not last or cjson.decode(last)['at'] >= tonumber(ARGV[1]) then break end
  redis.call('RPOP', KEYS[1])
  dropped = dropped + 1
end
return dropped
"""

# KEYS: app tokens, their counter. ARGV: token id, added_at, sealed token. Returns 1 when new.
_REMEMBER_APP_TOKEN = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({ARGV[2], seq, ARGV[3]}))
return 1
"""

# Keep an item for delivery. Arguments: the next id, pending, lanes and lane's set keys, the repeat digest's key
# (``P:seen`` when there is none: every key a script is given is under the prefix, so an ACL user limited to it may
# run it), the item key prefix, lane, kind, body, token, created_at, repeat window ms ('0': no digest to look at),
# events channel (nil: the item is not announced there). Returns the new id; or, when the digest was seen within the
# window (a repeat: its window starts again, nothing is queued), minus the id of the item that had it. The digest
# counts as seen only with its item, so a dispatch the store did not accept never makes its retry look like a repeat.
_ENQUEUE_FUNCTION = """
local function enqueue(next_id, pending, lanes, lane_set, seen_key, item_prefix, lane, kind, body, token, created_at,
                       window, events)
  local check = window ~= '0'
  local seen = check and redis.call('GET', seen_key)
  if seen then
    redis.call('PEXPIRE', seen_key, window)
    return -(tonumber(seen) or 1)
  end
  local id = redis.call('INCR', next_id)
  if check then redis.call('SET', seen_key, id, 'PX', window) end
  redis.call('HSET', item_prefix .. id, 'lane', lane, 'kind', kind, 'body', body, 'token', token,
             'created_at', created_at, 'attempts', 0, 'state', 'pending')
  redis.call('ZADD', pending, id, id)
  redis.call('ZADD', lane_set, id, id)
  redis.call('SADD', lanes, lane)
  if events then redis.call('PUBLISH', events, 'queued|' .. id .. '|' .. lane) end
  return id
end
"""

# KEYS: next id, pending, lanes, the lane's set, the repeat digest. ARGV: item key prefix, lane, kind, body, token,
# created_at, repeat window ms, events channel. As ``enqueue`` above.
_ENQUEUE = (
    _ENQUEUE_FUNCTION
    + "return enqueue(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], "
    + "ARGV[6], ARGV[7], ARGV[8])"
)

# KEYS: item.
_RECORD_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
return 0
"""

# ARGV from a position on, as a table (the alert names at the end of a script's arguments).
_SLICE = """
local function slice(values, first)
  local out = {}
  for i = first, #values do out[#out + 1] = values[i] end
  return out
end
"""

# The item was delivered: forgotten; the lane's sending mark goes if it names this item, and the outcome is
# published (a replica whose dispatch waits for the item learns it at once). Arguments: the item, pending, lanes,
# failed and failed-at keys, the lane key prefix, the id, the sending-mark key prefix, the events channel. Returns 1,
# or 0 when there is no such item.
_SETTLE_FUNCTION = """
local function settle(item, pending, lanes, failed, failed_at, lane_prefix, id, mark_prefix, events)
  local lane = redis.call('HGET', item, 'lane')
  if not lane then return 0 end
  local mark_key = mark_prefix .. lane
  local mark = redis.call('GET', mark_key)
  if mark and string.match(mark, '|(%d+)$') == id then redis.call('DEL', mark_key) end
  redis.call('PUBLISH', events, 'delivered|' .. id .. '|')
  local lane_key = lane_prefix .. lane
  redis.call('ZREM', pending, id)
  redis.call('ZREM', lane_key, id)
  if redis.call('ZCARD', lane_key) == 0 then redis.call('SREM', lanes, lane) end
  redis.call('DEL', item)
  redis.call('ZREM', failed, id)
  redis.call('ZREM', failed_at, id)
  return 1
end
"""

# KEYS: item, pending, lanes, failed, failed-at. ARGV: lane key prefix, id, sending-mark key prefix, events channel.
_SETTLE = (
    _SETTLE_FUNCTION + "return settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4])"
)

# What failed items keep is counted in P:outbox:failed-bytes (their bodies' bytes): added to as each fails, taken
# from as one is retried or dropped, and counted afresh (fit_failed) once it passes MAX_FAILED_BYTES and when
# pruning, since a failed item's hash also expires by itself (FAILED_ITEM_RETENTION_SECONDS) and leaves its id
# behind. Arguments: the failed, failed-at and failed-bytes keys, the item key prefix, the most bytes to keep.
_FIT_FAILED = """
local function fit_failed(failed, failed_at, counter, item_prefix, most)
  local ids = redis.call('ZRANGE', failed, 0, -1)
  local sizes, total, dropped = {}, 0, 0
  for i, id in ipairs(ids) do
    if redis.call('EXISTS', item_prefix .. id) == 1 then
      sizes[i] = redis.call('HSTRLEN', item_prefix .. id, 'body')
      total = total + sizes[i]
    else
      sizes[i] = -1
    end
  end
  for i, id in ipairs(ids) do
    if sizes[i] < 0 or total > most then
      redis.call('ZREM', failed, id)
      redis.call('ZREM', failed_at, id)
      if sizes[i] >= 0 then
        redis.call('DEL', item_prefix .. id)
        total = total - sizes[i]
        dropped = dropped + 1
      end
    end
  end
  redis.call('SET', counter, total)
  return dropped
end
"""

# KEYS: item, pending, lanes, failed, failed-at, failed-bytes. ARGV: lane key prefix, id, error, now, body as kept,
# ttl_ms, byte cap, bytes left after a drop, item key prefix, sending-mark key prefix, events channel. The item
# failed for good: it keeps the bounded body, expires after the retention, and the oldest failed items go while all
# keep more than the cap; the lane's sending mark goes if it names the item, and the failure is published. Returns
# 1, or 0 when there is no such item.
_FAIL = (
    _FIT_FAILED
    + """
local lane = redis.call('HGET', KEYS[1], 'lane')
if not lane then return 0 end
local mark_key = ARGV[10] .. lane
local mark = redis.call('GET', mark_key)
if mark and string.match(mark, '|(%d+)$') == ARGV[2] then redis.call('DEL', mark_key) end
redis.call('PUBLISH', ARGV[11], 'failed|' .. ARGV[2] .. '|' .. ARGV[3])
if redis.call('HGET', KEYS[1], 'state') == 'failed' then  -- failed again: a new reason, nothing more kept
  redis.call('HSET', KEYS[1], 'error', ARGV[3], 'finished_at', ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
  return 1
end
local lane_key = ARGV[1] .. lane
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', lane_key, ARGV[2])
if redis.call('ZCARD', lane_key) == 0 then redis.call('SREM', KEYS[3], lane) end
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[3], 'finished_at', ARGV[4], 'body', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
if redis.call('INCRBY', KEYS[6], string.len(ARGV[5])) > tonumber(ARGV[7]) then
  fit_failed(KEYS[4], KEYS[5], KEYS[6], ARGV[9], tonumber(ARGV[8]))
end
return 1
"""
)

# KEYS: failed, failed-at, failed-bytes. ARGV: item key prefix, most bytes. Counts what failed items keep and drops
# the oldest while they keep more than that; returns how many went.
_FIT = _FIT_FAILED + "return fit_failed(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))"

# KEYS: item, pending, lanes, failed, failed-at, failed-bytes. ARGV: lane key prefix, id, now, events channel. A
# failed item pending again (no longer expiring), with its attempts and error cleared and its acceptance time now,
# announced as queued (its lane's holder takes it in at once); returns 1, or 0 when it is not a failed item.
_RETRY = """
if redis.call('HGET', KEYS[1], 'state') ~= 'failed' then return 0 end
local lane = redis.call('HGET', KEYS[1], 'lane')
redis.call('DECRBY', KEYS[6], redis.call('HSTRLEN', KEYS[1], 'body'))
redis.call('PERSIST', KEYS[1])
redis.call('HDEL', KEYS[1], 'error', 'finished_at')
redis.call('HSET', KEYS[1], 'state', 'pending', 'attempts', 0, 'created_at', ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
redis.call('ZADD', ARGV[1] .. lane, ARGV[2], ARGV[2])
redis.call('SADD', KEYS[3], lane)
redis.call('PUBLISH', ARGV[4], 'queued|' .. ARGV[2] .. '|' .. lane)
return 1
"""

# KEYS: item, pending, lanes, failed, failed-at, failed-bytes. ARGV: lane key prefix, id. Forgets an item, pending
# or failed; returns 1, or 0 when there is none.
_DROP = """
local lane = redis.call('HGET', KEYS[1], 'lane')
if not lane then return 0 end
if redis.call('HGET', KEYS[1], 'state') == 'failed' then
  redis.call('DECRBY', KEYS[6], redis.call('HSTRLEN', KEYS[1], 'body'))
end
local lane_key = ARGV[1] .. lane
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', lane_key, ARGV[2])
if redis.call('ZCARD', lane_key) == 0 then redis.call('SREM', KEYS[3], lane) end
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: failed, failed-at. ARGV: item key prefix, ids... Drops failed items (pruning counts what is left afresh:
# ``_FIT``); returns how many went.
_DROP_FAILED = """
local dropped = 0
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('DEL', ARGV[1] .. ARGV[i])
    dropped = dropped + 1
  end
end
return dropped
"""

# Create or update a card (id 0: new) and point each of its alert names at it. Arguments: the card id counter, the
# name order counter, the prefix, id, card JSON, bot, channel id, ts, target, ttl_ms, name ttl_ms, the alert names (a
# table). Returns the card's id.
_SAVE_CARD_FUNCTION = """
local function save_card(next_id, seq, p, id, json, bot, channel, ts, target, ttl, name_ttl, keys)
  id = tonumber(id)
  if id == 0 then id = redis.call('INCR', next_id) end
  local sid = tostring(id)
  local card = p .. ':card:' .. sid
  local old = redis.call('GET', card)
  if old then
    local was = cjson.decode(old)
    if was['channel_id'] ~= channel or was['ts'] ~= ts then
      local at = p .. ':card-at:' .. was['channel_id'] .. ':' .. was['ts']
      if redis.call('GET', at) == sid then redis.call('DEL', at) end
    end
  end
  local names = card .. ':keys'
  local pointers = p .. ':card-key:' .. bot .. ':' .. channel .. ':'
  for _, key in ipairs(keys) do
    local pointer = pointers .. key
    local other = redis.call('GET', pointer)
    if other and other ~= sid then redis.call('ZREM', p .. ':card:' .. other .. ':keys', key) end
    redis.call('SET', pointer, sid, 'PX', ttl)
    redis.call('ZADD', names, redis.call('INCR', seq), key)
  end
  for _, name in ipairs(redis.call('ZRANGE', names, 0, -1)) do
    local pointer = pointers .. name
    if redis.call('GET', pointer) == sid then
      redis.call('PEXPIRE', pointer, ttl)
    else
      redis.call('ZREM', names, name)
    end
  end
  redis.call('PEXPIRE', names, ttl)
  redis.call('SET', card, json, 'PX', ttl)
  redis.call('SET', p .. ':card-at:' .. channel .. ':' .. ts, sid, 'PX', ttl)
  if #keys > 0 and target ~= channel then
    redis.call('SET', p .. ':channel:' .. bot .. ':' .. target, channel, 'PX', name_ttl)
  end
  return id
end
"""

# KEYS: card id counter, name order counter. ARGV: prefix, id (0: new), card JSON, bot, channel id, ts, target,
# ttl_ms, name ttl_ms, alert names... Returns the card's id.
_SAVE_CARD = (
    _SLICE
    + _SAVE_CARD_FUNCTION
    + "return save_card(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], "
    + "ARGV[9], slice(ARGV, 10))"
)

# KEYS: item, pending, lanes, failed, failed-at, failed-bytes, card id counter, name order counter. ARGV: lane key
# prefix, id, sending-mark key prefix, events channel, then the card's as for _SAVE_CARD (prefix, card id, ...,
# alert names...). The item was delivered and its card is saved, in one step (``delivered(card=...)``): the card
# first, so a replica that learns of the delivery from the event finds the card saved. Returns the card's id.
_SETTLE_SAVING = (
    _SLICE
    + _SAVE_CARD_FUNCTION
    + _SETTLE_FUNCTION
    + """
local id = save_card(KEYS[7], KEYS[8], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12],
                     ARGV[13], slice(ARGV, 14))
settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return id
"""
)

# The cards an alert's names point to in a bot's channel (``find_card``): {position (0: the strongest name), card
# id, card JSON, the card's names (left out at position 0: nothing contradicts the strongest name)}, in the names'
# order, each card once, and nothing after the strongest name's card. The Python side chooses among them
# (``bot.ports.store.strongest_card``). Arguments: the prefix, bot, target, '1' when the target is a channel ID (else a
# channel name, looked up as ``save_card`` learnt it), the names (a table).
_FIND_CARDS_FUNCTION = """
local function find_cards(p, bot, target, is_id, keys)
  local found = {}
  local channel = target
  if is_id ~= '1' then channel = redis.call('GET', p .. ':channel:' .. bot .. ':' .. target) end
  if not channel then return found end
  local seen = {}
  for i, key in ipairs(keys) do
    local id = redis.call('GET', p .. ':card-key:' .. bot .. ':' .. channel .. ':' .. key)
    if id and not seen[id] then
      seen[id] = true
      local card = redis.call('GET', p .. ':card:' .. id)
      if card then
        if i == 1 then return {{0, id, card, {}}} end
        found[#found + 1] = {i - 1, id, card, redis.call('ZRANGE', p .. ':card:' .. id .. ':keys', 0, -1)}
      end
    end
  end
  return found
end
"""

# ARGV: prefix, bot, target, is_id, alert names...
_FIND_CARDS = _SLICE + _FIND_CARDS_FUNCTION + "return find_cards(ARGV[1], ARGV[2], ARGV[3], ARGV[4], slice(ARGV, 5))"

# KEYS: lease. ARGV: owner, ttl_ms. Returns 1 when the lease is now the owner's.
_ACQUIRE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: owner, ttl_ms.
_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: leases... ARGV: owner, ttl_ms. Extends each lease the owner holds; returns 1 or 0 per lease.
_RENEW_LEASES = """
local held = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
"""

# KEYS: lease, the lane's sending mark, the item. ARGV: owner, ttl_ms, item id, force ('1': another holder's mark is
# stale), mark ttl_ms[, then what _FIND_CARDS takes: prefix, bot, target, is_id, alert names...]. The fencing check
# before a Slack call: {0, ''} when the lease is not the owner's (nothing may be sent); {3, ''} when the item is no
# longer pending (another holder settled it); {2, mark} when another holder's send of the lane may still be in
# flight; else {1, '', cards}: the lease is extended and the lane marked as sending this item, until the item is
# settled, and (asked with the card arguments) the cards the names point to, in the same round trip.
_BEGIN_SEND = (
    _SLICE
    + _FIND_CARDS_FUNCTION
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, ''} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('HGET', KEYS[3], 'state') ~= 'pending' then return {3, ''} end
local mark = redis.call('GET', KEYS[2])
local mine = ARGV[1] .. '|'
if mark and string.sub(mark, 1, #mine) ~= mine and ARGV[4] ~= '1' then return {2, mark} end
redis.call('SET', KEYS[2], mine .. ARGV[3], 'PX', ARGV[5])
if #ARGV > 5 then return {1, '', find_cards(ARGV[6], ARGV[7], ARGV[8], ARGV[9], slice(ARGV, 10))} end
return {1, '', {}}
"""
)

# KEYS: next id, pending, lanes, the lane's set, the repeat digest, the lane's lease, the lane's sending mark. ARGV:
# what _ENQUEUE takes (item key prefix, lane, kind, body, token, created_at, repeat window ms, events channel), then
# owner, ttl_ms, mark ttl_ms, '1' to take a free lease[, then what _FIND_CARDS takes: prefix, bot, target, is_id,
# alert names...]. The item kept as _ENQUEUE keeps it, the lane's lease taken for the owner when asked, nobody holds
# it and the item is the lane's only pending one, then its fencing check as _BEGIN_SEND makes it (never forced; the
# item is surely pending), in one round trip (``enqueue_sending``): {-id, -1, ''} for a repeat (nothing kept); else
# {id, 0, ''} (the lease is not the owner's), {id, 2, mark} (another holder's send may be in flight) or
# {id, 1, '', cards}. The item is announced on the events channel unless the check passed: then the writer is the
# lane's holder, the one replica the announcement is for (sparing every replica a message per dispatch).
_ENQUEUE_SENDING = (
    _SLICE
    + _FIND_CARDS_FUNCTION
    + _ENQUEUE_FUNCTION
    + """
local id = enqueue(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
                   ARGV[7], nil)
if id < 0 then return {id, -1, ''} end
local function announced(reply)
  redis.call('PUBLISH', ARGV[8], 'queued|' .. id .. '|' .. ARGV[2])
  return reply
end
if ARGV[12] == '1' and redis.call('ZCARD', KEYS[4]) == 1 then  -- a cold lane whose only item this is: take it
  redis.call('SET', KEYS[6], ARGV[9], 'NX', 'PX', ARGV[10])
end
if redis.call('GET', KEYS[6]) ~= ARGV[9] then return announced({id, 0, ''}) end
redis.call('PEXPIRE', KEYS[6], ARGV[10])
local mark = redis.call('GET', KEYS[7])
local mine = ARGV[9] .. '|'
if mark and string.sub(mark, 1, #mine) ~= mine then return announced({id, 2, mark}) end
redis.call('SET', KEYS[7], mine .. id, 'PX', ARGV[11])
if #ARGV > 12 then return {id, 1, '', find_cards(ARGV[13], ARGV[14], ARGV[15], ARGV[16], slice(ARGV, 17))} end
return {id, 1, '', {}}
"""
)

# KEYS: lease, the lane's sending mark. ARGV: owner, '1' to clear the owner's sending mark (nothing in flight).
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then
  local mark = redis.call('GET', KEYS[2])
  if mark and string.sub(mark, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then redis.call('DEL', KEYS[2]) end
end
return 0
"""

# KEYS: the current shared secret, the set of every one made. ARGV: the caller's current secret, the most to keep.
# A store that lost its data (restarted empty, FLUSHALL) gets the caller's secret back, so replicas that keep running
# and replicas started afterwards agree again; every secret seen is kept (bounded) so what older ones sealed still
# opens. Returns {current, all...}.
_SYNC_SECRET = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1])
  current = ARGV[1]
end
redis.call('ZADD', KEYS[2], 'NX', redis.call('INCR', KEYS[2] .. ':seq'), ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', redis.call('INCR', KEYS[2] .. ':seq'), current)
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if extra > 0 then redis.call('ZPOPMIN', KEYS[2], extra) end
local result = {current}
for _, value in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do table.insert(result, value) end
return result
"""


# A token bucket shared by every replica (Slack's per-workspace chat.update budget), timed by Redis' own clock so the
# replicas' clocks do not matter. KEYS: bucket. ARGV: rate per second, burst. Returns the seconds to wait ("0": go).
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp', 'paused')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
local paused = tonumber(state[3]) or 0
if now < paused then return tostring(paused - now) end
if now > stamp then tokens = math.min(burst, tokens + (now - stamp) * rate); stamp = now end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp))
redis.call('PEXPIRE', KEYS[1], 600000)
return tostring(wait)
"""

# KEYS: bucket. ARGV: seconds. Slack said 429: nobody draws before then, and the bucket starts empty.
_PAUSE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local paused = math.max(tonumber(redis.call('HGET', KEYS[1], 'paused')) or 0, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'paused', tostring(paused), 'tokens', '0', 'stamp', tostring(paused))
redis.call('PEXPIRE', KEYS[1], 600000)
return 0
"""


def _text(value: object) -> str:
    """A reply as text (the client decodes replies; this keeps the types honest)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _texts(values: Iterable[object]) -> list[str]:
    return [_text(value) for value in values]


def _maybe(value: object) -> str | None:
    return None if value is None else _text(value)


def _ms(seconds: float) -> int:
    """A duration for PX/PEXPIRE: whole milliseconds, at least one (zero or less is an error in Redis)."""
    return max(1, round(seconds * 1000))


def _number(value: float) -> str:
    """A float as Lua reads it back exactly (``repr`` round-trips)."""
    return repr(float(value))


def _script_bug(exc: RedisError) -> bool:
    """A Lua script that does not compile or breaks at run time: a bug to report, not an outage to retry."""
    if type(exc) is not ResponseError:  # OOM, READONLY, NOSCRIPT… have their own classes: conditions, not bugs
        return False
    message = str(exc)
    if _CONDITION_CODES.search(message):
        return False
    return "user_script" in message or "Error compiling script" in message or "Error running script" in message


def _translated(
    method: Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, R]]:
    """Redis's failures leave as ``StoreError`` (retryable, no password in the message); script bugs as they are."""

    @functools.wraps(method)
    async def wrapper(self: RedisStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except DataError:  # a value redis-py cannot send: our bug
            raise
        except RedisError as exc:
            if _script_bug(exc):
                raise
            raise self._failure(exc) from None
        except OSError as exc:  # a socket error redis-py did not wrap
            raise self._failure(exc) from None

    return wrapper


def _connection_options(url: str, scrub: Callable[[str], str]) -> dict[str, Any]:
    """What redis-py makes of ``url``, checked as it checks them when it opens a connection, without opening one:
    a ``ValueError`` naming BOT_STORE_URL for what it would refuse (an option's value it cannot read, an option it
    does not take). Its reason names the option; ``scrub`` takes out the password should it appear."""
    try:
        pool = aioredis.ConnectionPool.from_url(url)
        pool.connection_class(**pool.connection_kwargs)  # a connection object, no socket: refuses unknown options
    except TypeError as exc:  # "...__init__() got an unexpected keyword argument 'name'"
        unknown = _UNKNOWN_OPTION.search(str(exc))
        scheme = urlsplit(url).scheme.lower()
        reason = f"redis-py takes no option {unknown.group(1)!r} in a {scheme}:// URL" if unknown else "TypeError"
        raise _invalid_url(scrub(reason)) from None
    except (ValueError, RedisError) as exc:  # "Invalid value for 'socket_timeout' in connection URL."
        raise _invalid_url(scrub(str(exc)) or type(exc).__name__) from None
    options: dict[str, Any] = pool.connection_kwargs
    if not isinstance(options.get("db", 0), int) or options.get("db", 0) < 0:
        raise _invalid_url("the database (db) must be a number from 0")
    return options


def _invalid_url(reason: str) -> ValueError:
    return ValueError(
        f"BOT_STORE_URL cannot be used: {reason.rstrip('.')}; give redis://[user:password@]host:port/db or "
        "rediss://…, where db is a database number and every ?option one redis-py knows (its value is not shown: it "
        "may hold a password)"
    )


class _Location:
    """Where the Redis is, for messages: host, port and database, never the credentials. ``ValueError`` for a URL
    redis-py would refuse or read otherwise than it says (a path that is not a database number)."""

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ValueError(
                "BOT_STORE_URL is not a valid Redis URL (redis://[user:password@]host:port/db; not shown, it may "
                "hold a password)"
            ) from None
        if parts.scheme.lower() not in SCHEMES:
            raise ValueError("BOT_STORE_URL must start with redis:// or rediss:// (not shown: it may hold a password)")
        self.secrets = [s for s in {parts.password, unquote(parts.password or "")} if s]
        if not _DB_PATH.fullmatch(parts.path):  # redis-py would quietly use database 0 for /notadb
            raise _invalid_url("its path is not a database number (/0, /1, …; none for 0)")
        options = _connection_options(url, self.scrub)
        self.host = parts.hostname or "localhost"
        self.port = port
        self.db = str(options.get("db", 0))  # as redis-py reads it (?db= wins over the path)
        self.tls = parts.scheme.lower() == "rediss"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.db}"

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[password]")
        text = redact(text)
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class RedisStore:
    """The store on Redis, shared by every replica (see the module docstring for the keys). Open with ``connect``."""

    shared = True

    def __init__(self, client: aioredis.Redis, location: _Location, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = client
        self._where = location
        self.prefix = prefix
        script = client.register_script
        self._claim = script(_CLAIM)
        self._finish = script(_FINISH)
        self._add_audit = script(_ADD_AUDIT)
        self._trim_audit = script(_TRIM_AUDIT)
        self._remember_app_token = script(_REMEMBER_APP_TOKEN)
        self._enqueue = script(_ENQUEUE)
        self._record_attempt = script(_RECORD_ATTEMPT)
        self._settle = script(_SETTLE)
        self._settle_saving = script(_SETTLE_SAVING)
        self._find_cards = script(_FIND_CARDS)
        self._fail = script(_FAIL)
        self._fit = script(_FIT)
        self._drop_failed = script(_DROP_FAILED)
        self._retry = script(_RETRY)
        self._drop_item = script(_DROP)
        self._save_card = script(_SAVE_CARD)
        self._acquire_lease = script(_ACQUIRE_LEASE)
        self._renew_lease = script(_RENEW_LEASE)
        self._release_lease = script(_RELEASE_LEASE)
        self._renew_leases = script(_RENEW_LEASES)
        self._begin_send = script(_BEGIN_SEND)
        self._enqueue_sending = script(_ENQUEUE_SENDING)
        self._sync_secret = script(_SYNC_SECRET)
        self._take_slot = script(_TAKE_SLOT)
        self._pause_slot = script(_PAUSE_SLOT)

    @classmethod
    async def connect(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        """Connect to the Redis at ``url`` (``redis://[user:password@]host:port/db`` or ``rediss://…``) and check
        that it answers; ``StoreError`` (naming host and port, never the password) when it does not."""
        location = _Location(url)
        prefix = prefix.strip(":")
        if not prefix:
            raise ValueError("the Redis key prefix must not be empty")
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS,
            retry=Retry(NoBackoff(), CONNECTION_RETRIES, supported_errors=(RedisConnectionError,)),
        )
        store = cls(client, location, prefix=prefix)
        try:
            await store._check()
        except BaseException:
            await store.close()
            raise
        return store

    @_translated
    async def _check(self) -> None:
        """Redis answers, and its key layout is one this release reads (``P:layout``, written here when absent: a
        Redis the release before versioning wrote is layout 1). ``NewerLayout`` for a newer one."""
        found = await self._redis.eval(_LAYOUT, 1, self._key("layout"), REDIS_LAYOUT)
        try:
            layout = int(found)
        except (TypeError, ValueError):
            raise StoreError(f"the shared store (Redis at {self._where}) has an unreadable layout version") from None
        check_store(
            f"the shared store (Redis at {self._where}, prefix {self.prefix!r})",
            layout,
            REDIS_LAYOUT,
            ", or point BOT_STORE_URL at another Redis database",
        )

    def _failure(self, exc: BaseException) -> StoreError:
        return StoreError(
            f"the shared store (Redis at {self._where}) failed ({type(exc).__name__}: {self._where.scrub(str(exc))})"
        )

    def __repr__(self) -> str:
        return f"RedisStore({self._where}, prefix={self.prefix!r})"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # Clicks.

    @_translated
    async def claim_action(self, key: str, actor: str, *, stale_after: float) -> Claim:
        status, holder, at, *version = await self._claim(
            keys=[self._key("claim", key)], args=[actor, _ms(stale_after), CLAIM_LAYOUT]
        )
        if status == _NEWER:
            check_claim(version[0], key=key)
        return Claim(ClaimStatus(status), str(holder), float(at))

    @_translated
    async def finish_action(self, key: str, *, done: bool) -> None:
        await self._finish(keys=[self._key("claim", key)], args=["1" if done else "0", _ms(CLAIM_RETENTION_SECONDS)])

    # Audit.

    @_translated
    async def add_audit(self, record: AuditRecord) -> None:
        await self._add_audit(
            keys=[self._key("audit")],
            args=[json.dumps(dataclasses.asdict(record), separators=(",", ":")), MAX_AUDIT_RECORDS],
        )

    @_translated
    async def audit(self, limit: int = 100, *, unreadable: list[str] | None = None) -> list[AuditRecord]:
        if limit <= 0:
            return []
        rows = await self._redis.lrange(self._key("audit"), 0, limit - 1)
        records: list[AuditRecord] = []
        for index, row in enumerate(rows):
            try:
                records.append(readable_audit(AuditRecord(**json.loads(row))))
            except (ValueError, TypeError):  # not JSON, not an object of these fields: left out, named
                if unreadable is not None:
                    unreadable.append(f"{self._key('audit')} index {index}")
        return records

    # App-level tokens.

    @_translated
    async def remember_app_token(self, token_id: str, sealed_token: str, *, now: float) -> bool:
        added = await self._remember_app_token(
            keys=[self._key("app-tokens"), self._key("app-tokens", "seq")], args=[token_id, _number(now), sealed_token]
        )
        return int(added) == 1

    @_translated
    async def app_tokens(self) -> list[str]:
        entries = [json.loads(value) for value in (await self._redis.hgetall(self._key("app-tokens"))).values()]
        return [str(token) for _, _, token in sorted(entries, key=lambda e: (float(e[0]), int(e[1])))]

    @_translated
    async def forget_app_token(self, token_id: str) -> bool:
        return int(await self._redis.hdel(self._key("app-tokens"), token_id)) == 1

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A no-op: each method is atomic on its own (one command, MULTI block or script) and durable when it
        returns; Redis has no transaction that spans reads and later writes of other calls."""
        yield

    # The outbox.

    @_translated
    async def enqueue(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None = None,
        window: float = 0.0,
    ) -> int:
        keys, args = self._enqueue_arguments(lane, kind, body, token, now, digest, window)
        return int(await self._enqueue(keys=keys, args=args))

    def _enqueue_arguments(
        self,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None,
        window: float,
    ) -> tuple[list[str], list[str | int]]:
        """The keys and arguments ``enqueue`` takes (in _ENQUEUE and _ENQUEUE_SENDING)."""
        check = digest is not None and window > 0
        seen = self._key("seen", digest) if digest is not None and window > 0 else self._key("seen")
        keys = [
            self._key("outbox", "next-id"),
            self._key("outbox", "pending"),
            self._key("outbox", "lanes"),
            self._key("outbox", "lane", lane),
            seen,
        ]
        args: list[str | int] = [
            self._key("outbox", "item", ""),
            lane,
            kind.value,
            json.dumps(body, separators=(",", ":")),
            token,
            _number(now),
            max(1, _ms(window)) if check else 0,
            self._key("events"),
        ]
        return keys, args

    @_translated
    async def enqueue_sending(
        self,
        *,
        lane: str,
        kind: ItemKind,
        body: dict[str, Any],
        token: str,
        now: float,
        digest: str | None = None,
        window: float = 0.0,
        owner: str,
        ttl: float,
        cards: CardQuery | None = None,
        take: bool = False,
    ) -> tuple[int, SendGrant | None]:
        keys, args = self._enqueue_arguments(lane, kind, body, token, now, digest, window)
        finding = self._find_args(cards.bot, cards.target, cards.keys) if cards is not None and cards.keys else []
        item_id, code, mark, *found = await self._enqueue_sending(
            keys=[*keys, self._key("lease", f"lane:{lane}"), self._key("sending", lane)],
            args=[*args, owner, _ms(ttl), _ms(SENDING_MARK_SECONDS), "1" if take else "0", *finding],
        )
        return int(item_id), self._grant(int(code), mark, found)

    async def _items(self, ids: Sequence[str]) -> list[dict[str, str]]:
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for item_id in ids:
            pipe.hgetall(self._key("outbox", "item", item_id))
        found: list[dict[str, str]] = await pipe.execute()
        return [{**fields, "id": item_id} for item_id, fields in zip(ids, found, strict=True) if fields]

    @_translated
    async def pending(self, lane: str | None = None, *, after: int = 0) -> list[OutboxItem]:
        index = self._key("outbox", "pending") if lane is None else self._key("outbox", "lane", lane)
        items = await self._items(_texts(await self._redis.zrangebyscore(index, f"({after}", "+inf")))
        return [
            OutboxItem(
                id=int(item["id"]),
                lane=item["lane"],
                kind=ItemKind(item["kind"]),
                body=json.loads(item["body"]),
                token=item["token"],
                created_at=float(item["created_at"]),
                attempts=int(item["attempts"]),
            )
            for item in items
            if item.get("state", ItemState.PENDING.value) == ItemState.PENDING.value
        ]

    @_translated
    async def pending_ids(self, lane: str) -> list[int]:
        return [int(item_id) for item_id in _texts(await self._redis.zrange(self._key("outbox", "lane", lane), 0, -1))]

    @_translated
    async def item_state(self, item_id: int) -> tuple[ItemState, str] | None:
        state, error = await self._redis.hmget(self._key("outbox", "item", str(item_id)), ["state", "error"])
        if state is None:
            return None
        return ItemState(_text(state)), _maybe(error) or ""

    @_translated
    async def pending_lanes(self) -> list[str]:
        return sorted(_texts(await self._redis.smembers(self._key("outbox", "lanes"))))

    @_translated
    async def record_attempt(self, item_id: int) -> None:
        await self._record_attempt(keys=[self._key("outbox", "item", str(item_id))])

    def _settle_keys(self, item_id: int) -> list[str]:
        return [
            self._key("outbox", "item", str(item_id)),
            self._key("outbox", "pending"),
            self._key("outbox", "lanes"),
            self._key("outbox", "failed"),
            self._key("outbox", "failed-at"),
            self._key("outbox", "failed-bytes"),
        ]

    @_translated
    async def delivered(self, item_id: int, *, card: CardRecord | None = None, keys: Sequence[str] = ()) -> None:
        settling: list[str | int] = [
            self._key("outbox", "lane", ""),
            item_id,
            self._key("sending", ""),
            self._key("events"),
        ]
        if card is None:
            await self._settle(keys=self._settle_keys(item_id), args=settling)
            return
        card_id = await self._settle_saving(
            keys=[*self._settle_keys(item_id), self._key("card", "next-id"), self._key("card", "seq")],
            args=[*settling, *self._card_args(card, keys)],
        )
        card.id = int(card_id)

    @_translated
    async def failed(self, item_id: int, *, error: str, now: float) -> None:
        stored = await self._redis.hget(self._key("outbox", "item", str(item_id)), "body")
        if stored is None:
            return
        await self._fail(
            keys=self._settle_keys(item_id),
            args=[
                self._key("outbox", "lane", ""),
                item_id,
                error,
                _number(now),
                failed_body(_text(stored), MAX_FAILED_ITEM_BYTES),
                _ms(FAILED_ITEM_RETENTION_SECONDS),
                MAX_FAILED_BYTES,
                int(MAX_FAILED_BYTES * FAILED_BYTES_KEPT_AFTER_DROP),
                self._key("outbox", "item", ""),
                self._key("sending", ""),
                self._key("events"),
            ],
        )

    async def events(self) -> AsyncGenerator[OutboxEvent, None]:
        """Items queued and settled by any replica, as they happen (Redis pub/sub on ``P:events``). Raises
        ``StoreError`` when the subscription breaks; what happened meanwhile is missed (callers look again)."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            try:
                await pubsub.subscribe(self._key("events"))
            except (RedisError, OSError) as exc:
                raise self._failure(exc) from None
            while True:
                try:
                    message = await pubsub.get_message(timeout=EVENT_WAIT_SECONDS)
                except (RedisError, OSError) as exc:
                    raise self._failure(exc) from None
                if message is None or message.get("type") != "message":
                    continue
                event = OutboxEvent.parse(_text(message["data"]))
                if event is not None:
                    yield event
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    @_translated
    async def outbox_counts(self) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=True)
        pipe.zcard(self._key("outbox", "pending"))
        pipe.zcard(self._key("outbox", "failed"))
        pending, failed = await pipe.execute()
        counts = {ItemState.PENDING.value: int(pending), ItemState.FAILED.value: int(failed)}
        return {state: n for state, n in counts.items() if n}

    @_translated
    async def failed_items(self, limit: int = 100) -> list[tuple[int, str, str]]:
        if limit <= 0:
            return []
        items = await self._items(_texts(await self._redis.zrevrange(self._key("outbox", "failed"), 0, limit - 1)))
        return [(int(item["id"]), item["lane"], item.get("error", "")) for item in items]

    @_translated
    async def outbox_entries(
        self, state: ItemState, limit: int = 100, *, unreadable: list[str] | None = None
    ) -> list[OutboxEntry]:
        if limit <= 0:
            return []
        if state is ItemState.PENDING:
            ids = await self._redis.zrange(self._key("outbox", "pending"), 0, limit - 1)
        else:
            ids = await self._redis.zrevrange(self._key("outbox", "failed"), 0, limit - 1)
        entries = []
        for item in await self._items(_texts(ids)):
            if item.get("state", ItemState.PENDING.value) != state.value:
                continue  # settled between the two reads
            finished = item.get("finished_at")
            try:
                entry = OutboxEntry(
                    OutboxItem(
                        id=int(item["id"]),
                        lane=item["lane"],
                        kind=ItemKind(item["kind"]),
                        body=json.loads(item["body"]),
                        token=item["token"],
                        created_at=float(item["created_at"]),
                        attempts=int(item["attempts"]),
                    ),
                    state,
                    item.get("error", ""),
                    float(finished) if finished else None,
                )
                entries.append(readable_entry(entry))
            except (KeyError, ValueError, TypeError):  # a field missing, not JSON, not a number: left out, named
                if unreadable is not None:
                    unreadable.append(f"outbox item {item['id']}")
        return entries

    @_translated
    async def retry_item(self, item_id: int, *, now: float) -> bool:
        retried = await self._retry(
            keys=self._settle_keys(item_id),
            args=[self._key("outbox", "lane", ""), item_id, _number(now), self._key("events")],
        )
        return int(retried) == 1

    @_translated
    async def drop_item(self, item_id: int) -> bool:
        dropped = await self._drop_item(
            keys=self._settle_keys(item_id), args=[self._key("outbox", "lane", ""), item_id]
        )
        return int(dropped) == 1

    # Cards.

    @staticmethod
    def _card(card_id: str, raw: str) -> CardRecord:
        """The card ``raw`` keeps (``NewerLayout`` when a newer release wrote it)."""
        stored = read_card(json.loads(raw), card_id=card_id)
        return CardRecord(**stored.model_dump(exclude={"v"}), id=int(card_id))

    async def _card_by_id(self, card_id: str | None) -> CardRecord | None:
        if card_id is None:
            return None
        raw = _maybe(await self._redis.get(self._key("card", card_id)))
        return None if raw is None else self._card(card_id, raw)

    def _find_args(self, bot: str, target: str, keys: Sequence[str]) -> list[str]:
        """What ``find_cards`` (in _FIND_CARDS and _BEGIN_SEND) takes."""
        return [self.prefix, bot, target, "1" if is_channel_id(target) else "0", *keys]

    def _found(self, reply: Iterable[Any]) -> tuple[FoundCard, ...]:
        return tuple(
            FoundCard(int(position), self._card(_text(card_id), _text(raw)), tuple(_texts(names)))
            for position, card_id, raw, names in reply
        )

    @_translated
    async def find_card(self, bot: str, target: str, keys: Sequence[str]) -> CardRecord | None:
        if not keys:
            return None
        return strongest_card(keys, self._found(await self._find_cards(args=self._find_args(bot, target, keys))))

    @_translated
    async def card_by_message(self, channel_id: str, ts: str) -> CardRecord | None:
        return await self._card_by_id(_maybe(await self._redis.get(self._key("card-at", channel_id, ts))))

    def _card_args(self, record: CardRecord, keys: Sequence[str]) -> list[str | int]:
        """What ``save_card`` (in _SAVE_CARD and _SETTLE_SAVING) takes."""
        fields = dataclasses.asdict(record)
        del fields["id"]
        fields = StoredCard.model_validate(fields).dump()
        retention = (
            RESOLVED_CARD_RETENTION_SECONDS if record.status is CardStatus.RESOLVED else OPEN_CARD_RETENTION_SECONDS
        )
        return [
            self.prefix,
            record.id,
            json.dumps(fields, separators=(",", ":")),
            record.bot,
            record.channel_id,
            record.ts,
            record.target,
            _ms(retention),
            _ms(OPEN_CARD_RETENTION_SECONDS),
            *keys,
        ]

    @_translated
    async def save_card(self, record: CardRecord, keys: Sequence[str] = ()) -> None:
        card_id = await self._save_card(
            keys=[self._key("card", "next-id"), self._key("card", "seq")], args=self._card_args(record, keys)
        )
        record.id = int(card_id)

    # Repeat suppression, shared secrets, leases.

    @_translated
    async def seen_recently(self, digest: str, window: float) -> bool:
        # Each sighting starts the window again (as the embedded store's RepeatFilter does): read, then set anew.
        key = self._key("seen", digest)
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(key)
        pipe.set(key, "1", px=_ms(window))
        before, _ = await pipe.execute()
        return before is not None

    @_translated
    async def forget_seen(self, digest: str) -> None:
        await self._redis.delete(self._key("seen", digest))

    @_translated
    async def sync_secret(self, name: str, current: str) -> tuple[str, list[str]]:
        values = _texts(
            await self._sync_secret(
                keys=[self._key("secret", name), self._key("secret", name, "all")], args=[current, MAX_SHARED_SECRETS]
            )
        )
        return values[0], values[1:]

    @_translated
    async def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        key = self._key("secret", name)
        value = await self._redis.get(key)
        if value is None:
            await self._redis.set(key, make(), nx=True)  # the first replica to ask makes it; the others read it
            value = await self._redis.get(key)
        if value is None:  # deleted between the two calls (an operator): the next call makes it again
            raise StoreError(f"the shared secret {name!r} vanished from the shared store as it was made")
        return str(value)

    @_translated
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        return int(await self._acquire_lease(keys=[self._key("lease", name)], args=[owner, _ms(ttl)])) == 1

    @_translated
    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        return int(await self._renew_lease(keys=[self._key("lease", name)], args=[owner, _ms(ttl)])) == 1

    @_translated
    async def renew_leases(self, names: Sequence[str], owner: str, ttl: float) -> list[bool]:
        if not names:
            return []
        held = await self._renew_leases(keys=[self._key("lease", name) for name in names], args=[owner, _ms(ttl)])
        return [int(value) == 1 for value in held]

    @_translated
    async def begin_send(
        self, lane: str, owner: str, item_id: int, ttl: float, *, force: bool = False, cards: CardQuery | None = None
    ) -> SendGrant:
        finding = self._find_args(cards.bot, cards.target, cards.keys) if cards is not None and cards.keys else []
        code, mark, *found = await self._begin_send(
            keys=[
                self._key("lease", f"lane:{lane}"),
                self._key("sending", lane),
                self._key("outbox", "item", str(item_id)),
            ],
            args=[owner, _ms(ttl), item_id, "1" if force else "0", _ms(SENDING_MARK_SECONDS), *finding],
        )
        grant = self._grant(int(code), mark, found)
        assert grant is not None
        return grant

    def _grant(self, code: int, mark: object, found: Sequence[Any]) -> SendGrant | None:
        """The fencing check's answer as _BEGIN_SEND and _ENQUEUE_SENDING give it (-1: a repeat, not asked)."""
        if code < 0:
            return None
        if code == 0:
            return SendGrant(SendOutcome.LOST)
        if code == 3:
            return SendGrant(SendOutcome.SETTLED)
        if code == 2:
            return SendGrant(SendOutcome.BUSY, _text(mark))
        return SendGrant(SendOutcome.GO, cards=self._found(found[0]) if found else ())

    @_translated
    async def release_lease(self, name: str, owner: str, *, idle: bool = False) -> None:
        mark = self._key("sending", name.removeprefix("lane:"))
        await self._release_lease(keys=[self._key("lease", name), mark], args=[owner, "1" if idle else "0"])

    @_translated
    async def take_slot(self, bucket: str, rate: float, burst: int) -> float:
        return float(_text(await self._take_slot(keys=[self._key("pace", bucket)], args=[rate, burst])))

    @_translated
    async def pause_slot(self, bucket: str, seconds: float) -> None:
        await self._pause_slot(keys=[self._key("pace", bucket)], args=[seconds])

    @_translated
    async def lease_holder(self, name: str) -> str | None:
        holder = await self._redis.get(self._key("lease", name))
        return None if holder is None else str(holder)

    # Upkeep.

    def describe(self) -> str:
        return repr(self)

    async def ping(self) -> bool:
        try:
            await self._check()
        except StoreError:
            return False
        return True

    async def vanished(self) -> bool:
        return False  # nothing to notice: a Redis that lost its data is still the store every replica shares

    async def reopen(self) -> None:
        return None

    @_translated
    async def prune(self, now: float) -> int:
        """What expiry does not cover: failed outbox items past their age or the caps (count, bytes), audit records
        past their age."""
        failed, failed_at = self._key("outbox", "failed"), self._key("outbox", "failed-at")
        old = await self._redis.zrangebyscore(failed_at, "-inf", f"({_number(now - FAILED_ITEM_RETENTION_SECONDS)}")
        removed = await self._drop(_texts(old))
        excess = int(await self._redis.zcard(failed)) - MAX_FAILED_ITEMS
        if excess > 0:
            removed += await self._drop(_texts(await self._redis.zrange(failed, 0, excess - 1)))
        removed += int(
            await self._fit(
                keys=[failed, failed_at, self._key("outbox", "failed-bytes")],
                args=[self._key("outbox", "item", ""), MAX_FAILED_BYTES],
            )
        )
        cutoff = _number(now - AUDIT_RETENTION_SECONDS)
        while True:
            dropped = int(await self._trim_audit(keys=[self._key("audit")], args=[cutoff, PRUNE_BATCH]))
            removed += dropped
            if dropped < PRUNE_BATCH:
                break
        before = int(await self._redis.llen(self._key("audit")))
        if before > MAX_AUDIT_RECORDS:  # the cap was lowered since the records were added
            await self._redis.ltrim(self._key("audit"), 0, MAX_AUDIT_RECORDS - 1)
            removed += before - MAX_AUDIT_RECORDS
        return removed

    async def _drop(self, ids: Sequence[str]) -> int:
        dropped = 0
        keys = [self._key("outbox", "failed"), self._key("outbox", "failed-at")]
        for start in range(0, len(ids), PRUNE_BATCH):
            batch = ids[start : start + PRUNE_BATCH]
            dropped += int(await self._drop_failed(keys=keys, args=[self._key("outbox", "item", ""), *batch]))
        return dropped

    async def close(self) -> None:
        # What ``Redis.aclose()`` does for a client made by ``from_url`` (its own pool); aclose is not in redis 5.0.0.
        await self._redis.connection_pool.disconnect()
