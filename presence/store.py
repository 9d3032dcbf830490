"""Who is online in a workspace, per user, across every worker.

Each open socket is one entry `user_id|connection` whose score is its expiry
time, refreshed by the socket's watchdog tick. A user is online while any of
their entries is live; what they show (user, since, status, viewing) is kept
once per user. A worker killed with -9 cannot say goodbye: its entries stop
being refreshed, drop out of `online()` as soon as they expire, and the next
`sweep()` of any surviving worker removes them and reports the users that
went offline, so `presence.left` is announced within PRESENCE_TTL.

On Redis (REDIS_URL) each operation is one Lua script, so "count this user's
live entries, then forget or create their state" cannot interleave with
another worker doing the same (a reload's close and open racing, two
workers sweeping at once): every arrival and departure is reported exactly
once. Scripts read the clock from Redis (TIME), so workers with skewed
clocks agree on what has expired. The keys themselves expire too, so a
workspace whose every worker died leaves nothing behind. On the embedded
default the same structure lives in this process; asyncio runs each
function here without a suspension point in the middle, which gives the
same atomicity.
"""
import json
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from collab_project.jsonutil import iso, user_ref
from collab_project.redis_client import get_redis, key_prefix

STATUSES = ("active", "idle")


@dataclass
class _LocalWorkspace:
    conns: dict[str, float] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)


_local: dict[str, _LocalWorkspace] = {}


def reset_local() -> None:
    _local.clear()


def _keys(workspace_id: str) -> list[str]:
    # The hash tag keeps a workspace's two keys in one slot (Redis Cluster).
    base = f"{key_prefix()}presence:{{{workspace_id}}}"
    return [f"{base}:conns", f"{base}:state"]


def _uid(member: str | bytes) -> str:
    if isinstance(member, bytes):
        member = member.decode()
    return member.split("|", 1)[0]


def _ident(user) -> str:
    return json.dumps({"user": user_ref(user), "since": iso(timezone.now())})


_DEFAULT_SHOWN = json.dumps({"status": "active", "viewing": None})


def _state(ident: str | bytes, shown: str | bytes | None) -> dict:
    state = {"status": "active", "viewing": None, **json.loads(ident)}
    if shown:
        state.update(json.loads(shown))
    return {"user": state["user"], "status": state["status"], "viewing": state["viewing"], "since": state["since"]}


# -- Redis scripts -----------------------------------------------------------
# KEYS[1] = conns (sorted set member -> expiry), KEYS[2] = state (hash
# "u:<uid>" -> {user, since}, "s:<uid>" -> {status, viewing}).
_LUA_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function live_count(uid)
  local prefix = uid .. '|'
  local n = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
    if string.sub(m, 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end
local function keep(ms)
  redis.call('PEXPIRE', KEYS[1], ms)
  redis.call('PEXPIRE', KEYS[2], ms)
end
"""

# ARGV: member, uid, ttl seconds, ident json, default shown json, key ttl ms,
# refresh ("1"). A join reports the user when this is their only live entry;
# a refresh only when its entry was gone and so was their state (a sweep
# already announced them gone). Returns {1, u, s} or {0}.
_JOIN = _LUA_COMMON + """
local present = redis.call('ZSCORE', KEYS[1], ARGV[1])
local alive = present and tonumber(present) > now
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
local joined = 0
if live_count(ARGV[2]) == 1 then
  if ARGV[7] ~= '1' then
    joined = 1
  elseif not alive and redis.call('HEXISTS', KEYS[2], 'u:' .. ARGV[2]) == 0 then
    joined = 1
  end
end
if joined == 1 then
  redis.call('HSET', KEYS[2], 'u:' .. ARGV[2], ARGV[4], 's:' .. ARGV[2], ARGV[5])
end
keep(ARGV[6])
if joined == 1 then
  return {1, ARGV[4], ARGV[5]}
end
return {0}
"""

# ARGV: member, uid. Returns {u, s} when that was the user's last live entry.
_LEAVE = _LUA_COMMON + """
redis.call('ZREM', KEYS[1], ARGV[1])
if live_count(ARGV[2]) > 0 then return {} end
local u = redis.call('HGET', KEYS[2], 'u:' .. ARGV[2])
if not u then return {} end
local s = redis.call('HGET', KEYS[2], 's:' .. ARGV[2]) or ''
redis.call('HDEL', KEYS[2], 'u:' .. ARGV[2], 's:' .. ARGV[2])
return {u, s}
"""

# Returns {u1, s1, u2, s2, ...} of the users whose last entries expired.
_SWEEP = _LUA_COMMON + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired == 0 then return {} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local seen, out = {}, {}
for _, m in ipairs(expired) do
  local uid = string.match(m, '^([^|]*)')
  if not seen[uid] then
    seen[uid] = true
    if live_count(uid) == 0 then
      local u = redis.call('HGET', KEYS[2], 'u:' .. uid)
      if u then
        table.insert(out, u)
        table.insert(out, redis.call('HGET', KEYS[2], 's:' .. uid) or '')
        redis.call('HDEL', KEYS[2], 'u:' .. uid, 's:' .. uid)
      end
    end
  end
end
return out
"""

# ARGV: uid, shown json, ident json (used when the user has no state yet),
# key ttl ms (for a hash this creates).
_UPDATE = _LUA_COMMON + """
local u = redis.call('HGET', KEYS[2], 'u:' .. ARGV[1])
if not u then
  u = ARGV[3]
  redis.call('HSET', KEYS[2], 'u:' .. ARGV[1], u)
end
redis.call('HSET', KEYS[2], 's:' .. ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {u, ARGV[2]}
"""

# Returns {u1, s1, ...} of the users with a live entry.
_ONLINE = _LUA_COMMON + """
local seen, out = {}, {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local uid = string.match(m, '^([^|]*)')
  if not seen[uid] then
    seen[uid] = true
    local u = redis.call('HGET', KEYS[2], 'u:' .. uid)
    if u then
      table.insert(out, u)
      table.insert(out, redis.call('HGET', KEYS[2], 's:' .. uid) or '')
    end
  end
end
return out
"""


def _script(redis, script: str):
    # redis-py caches the SHA and falls back to EVAL (or loads it, in a pipeline) when the server lost it.
    scripts = getattr(redis, "_presence_scripts", None)
    if scripts is None:
        scripts = redis._presence_scripts = {}
    if script not in scripts:
        scripts[script] = redis.register_script(script)
    return scripts[script]


async def _run(redis, script: str, workspace_id: str, *args) -> list:
    return await _script(redis, script)(keys=_keys(workspace_id), args=[str(a) for a in args])


def _key_ttl_ms(ttl: float) -> int:
    return int(max(ttl * 3, 60) * 1000)


def _pairs(flat: list) -> list[dict]:
    return [_state(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


# -- the in-process twin -------------------------------------------------------
def _local_live(ws: _LocalWorkspace, uid: str, now: float) -> int:
    return sum(1 for m, exp in ws.conns.items() if exp > now and _uid(m) == uid)


def _local_forget(ws: _LocalWorkspace, uid: str) -> dict | None:
    ident, shown = ws.state.pop(f"u:{uid}", None), ws.state.pop(f"s:{uid}", None)
    return _state(ident, shown) if ident else None


def _local_drop_if_empty(workspace_id: str) -> None:
    ws = _local.get(workspace_id)
    if ws is not None and not ws.conns and not ws.state:
        del _local[workspace_id]


def _local_join(workspace_id: str, member: str, uid: str, ttl: float, ident: str, refresh: bool) -> dict | None:
    now = time.time()
    ws = _local.setdefault(workspace_id, _LocalWorkspace())
    alive = ws.conns.get(member, 0) > now
    ws.conns[member] = now + ttl
    if _local_live(ws, uid, now) != 1 or (refresh and (alive or f"u:{uid}" in ws.state)):
        return None
    ws.state[f"u:{uid}"], ws.state[f"s:{uid}"] = ident, _DEFAULT_SHOWN
    return _state(ident, _DEFAULT_SHOWN)


# -- the API -----------------------------------------------------------------
async def join(workspace_id: str, conn: str, user, ttl: float) -> dict | None:
    """Register a socket for `ttl` seconds; the user's state when they were offline before."""
    return await _join(workspace_id, conn, user, ttl, refresh=False)


async def touch(workspace_id: str, conn: str, user, ttl: float) -> dict | None:
    """Keep a socket's entry alive for `ttl` more seconds.

    When the entry had already expired (this worker stalled past the TTL and
    another one swept it away) it is put back, and the state is returned if
    that brought the user back online, so the caller announces them again.
    """
    return await _join(workspace_id, conn, user, ttl, refresh=True)


async def touch_many(entries: list[tuple[str, str, object, float]]) -> list[dict | None]:
    """`touch` for many (workspace_id, conn, user, ttl) at once: one round trip to Redis."""
    redis = get_redis()
    if redis is None or not entries:
        return [await touch(*entry) for entry in entries]
    join = _script(redis, _JOIN)
    async with redis.pipeline(transaction=False) as pipe:
        for workspace_id, conn, user, ttl in entries:
            args = (f"{user.pk}|{conn}", user.pk, ttl, _ident(user), _DEFAULT_SHOWN, _key_ttl_ms(ttl), "1")
            await join(keys=_keys(workspace_id), args=[str(a) for a in args], client=pipe)
        results = await pipe.execute()
    return [_state(result[1], result[2]) if int(result[0]) else None for result in results]


async def _join(workspace_id: str, conn: str, user, ttl: float, *, refresh: bool) -> dict | None:
    member, uid, ident = f"{user.pk}|{conn}", str(user.pk), _ident(user)
    redis = get_redis()
    if redis is None:
        return _local_join(workspace_id, member, uid, ttl, ident, refresh)
    result = await _run(redis, _JOIN, workspace_id, member, uid, ttl, ident, _DEFAULT_SHOWN,
                        _key_ttl_ms(ttl), "1" if refresh else "0")
    return _state(result[1], result[2]) if int(result[0]) else None


async def leave(workspace_id: str, conn: str, user) -> dict | None:
    """Unregister a socket; the user's last state when that was their last live one."""
    member, uid = f"{user.pk}|{conn}", str(user.pk)
    redis = get_redis()
    if redis is None:
        ws = _local.get(workspace_id)
        if ws is None:
            return None
        ws.conns.pop(member, None)
        if _local_live(ws, uid, time.time()):
            return None
        state = _local_forget(ws, uid)
        _local_drop_if_empty(workspace_id)
        return state
    result = await _run(redis, _LEAVE, workspace_id, member, uid)
    return _state(result[0], result[1]) if result else None


async def sweep(workspace_id: str) -> list[dict]:
    """Drop expired entries (a dead worker's sockets); the states of users now offline.

    Several workers may sweep at once: the removal and the report happen in
    one step, so each departure is reported by exactly one of them.
    """
    redis = get_redis()
    if redis is None:
        ws = _local.get(workspace_id)
        if ws is None:
            return []
        now = time.time()
        expired = {_uid(m) for m, exp in ws.conns.items() if exp <= now}
        ws.conns = {m: exp for m, exp in ws.conns.items() if exp > now}
        gone = [_local_forget(ws, uid) for uid in sorted(expired) if not _local_live(ws, uid, now)]
        _local_drop_if_empty(workspace_id)
        return [state for state in gone if state]
    return _pairs(await _run(redis, _SWEEP, workspace_id))


async def update(workspace_id: str, user, *, status: str, viewing: str | None) -> dict:
    """Set the user's status and viewed task; returns the new state."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    uid, shown = str(user.pk), json.dumps({"status": status, "viewing": viewing})
    redis = get_redis()
    if redis is None:
        ws = _local.setdefault(workspace_id, _LocalWorkspace())
        ident = ws.state.setdefault(f"u:{uid}", _ident(user))
        ws.state[f"s:{uid}"] = shown
        return _state(ident, shown)
    result = await _run(redis, _UPDATE, workspace_id, uid, shown, _ident(user), _key_ttl_ms(settings.PRESENCE_TTL))
    return _state(result[0], result[1])


async def online(workspace_id: str) -> list[dict]:
    """The users online now, each once, in the order they came online."""
    redis = get_redis()
    if redis is None:
        ws = _local.get(workspace_id)
        if ws is None:
            return []
        now = time.time()
        uids = {_uid(m) for m, exp in ws.conns.items() if exp > now}
        states = [_state(ws.state[f"u:{u}"], ws.state.get(f"s:{u}")) for u in uids if f"u:{u}" in ws.state]
    else:
        states = _pairs(await _run(redis, _ONLINE, workspace_id))
    return sorted(states, key=lambda s: (s["since"], s["user"]["id"]))
