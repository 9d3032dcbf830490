"""Who is online in a workspace, per user, across every worker.

Each open socket is one entry `user_id|connection` with an expiry time,
refreshed while the socket lives. A user is online while any of their
entries is live; their status and the task they view are kept per user.
On Redis (REDIS_URL) entries live in a sorted set per workspace, so a
killed worker's sockets expire and a surviving worker's sweep announces them
gone; on the embedded default the same structure lives in this process.
"""
import json
import time
from dataclasses import dataclass, field

from django.utils import timezone

from collab_project.jsonutil import iso, user_ref
from collab_project.redis_client import get_redis, key_prefix


@dataclass
class _LocalWorkspace:
    conns: dict[str, float] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)


_local: dict[str, _LocalWorkspace] = {}


def reset_local() -> None:
    _local.clear()


def _keys(workspace_id: str) -> tuple[str, str]:
    base = f"{key_prefix()}presence:{workspace_id}"
    return f"{base}:conns", f"{base}:state"


def _uid(member: str | bytes) -> str:
    if isinstance(member, bytes):
        member = member.decode()
    return member.split("|", 1)[0]


def new_state(user) -> dict:
    return {"user": user_ref(user), "status": "active", "viewing": None, "since": iso(timezone.now())}


def public(state: dict) -> dict:
    return {"user": state["user"], "status": state["status"], "viewing": state["viewing"], "since": state["since"]}


async def join(workspace_id: str, conn: str, user, ttl: float) -> bool:
    """Register a socket; True when the user was not online before."""
    member, now = f"{user.pk}|{conn}", time.time()
    redis = get_redis()
    if redis is None:
        ws = _local.setdefault(workspace_id, _LocalWorkspace())
        online = any(_uid(m) == str(user.pk) and exp > now for m, exp in ws.conns.items())
        ws.conns[member] = now + ttl
        if not online:
            ws.state[str(user.pk)] = json.dumps(new_state(user))
        return not online
    conns, state = _keys(workspace_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(conns, {member: now + ttl})
        pipe.zrangebyscore(conns, now, "+inf")
        _, live = await pipe.execute()
    newly = sum(1 for m in live if _uid(m) == str(user.pk)) == 1
    if newly:
        await redis.hset(state, str(user.pk), json.dumps(new_state(user)))
    return newly


async def touch(workspace_id: str, conn: str, user, ttl: float) -> None:
    member, expires = f"{user.pk}|{conn}", time.time() + ttl
    redis = get_redis()
    if redis is None:
        ws = _local.get(workspace_id)
        if ws and member in ws.conns:
            ws.conns[member] = expires
        return
    await redis.zadd(_keys(workspace_id)[0], {member: expires}, xx=True)


async def _user_online(workspace_id: str, uid: str, now: float) -> bool:
    redis = get_redis()
    if redis is None:
        ws = _local.get(workspace_id)
        return bool(ws) and any(_uid(m) == uid and exp > now for m, exp in ws.conns.items())
    live = await redis.zrangebyscore(_keys(workspace_id)[0], now, "+inf")
    return any(_uid(m) == uid for m in live)


async def _forget_user(workspace_id: str, uid: str) -> dict | None:
    redis = get_redis()
    if redis is None:
        raw = _local.get(workspace_id, _LocalWorkspace()).state.pop(uid, None)
    else:
        state = _keys(workspace_id)[1]
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hget(state, uid)
            pipe.hdel(state, uid)
            raw, _ = await pipe.execute()
    return json.loads(raw) if raw else None


async def leave(workspace_id: str, conn: str, user) -> dict | None:
    """Unregister a socket; the user's last state when that was their last one."""
    member = f"{user.pk}|{conn}"
    redis = get_redis()
    if redis is None:
        _local.get(workspace_id, _LocalWorkspace()).conns.pop(member, None)
    else:
        await redis.zrem(_keys(workspace_id)[0], member)
    if await _user_online(workspace_id, str(user.pk), time.time()):
        return None
    return await _forget_user(workspace_id, str(user.pk))


async def sweep(workspace_id: str) -> list[dict]:
    """Drop expired sockets (a dead worker's); the states of users now offline.

    Several workers may sweep at once: only the one whose removal succeeds
    reports a user, so each departure is announced once.
    """
    now = time.time()
    redis = get_redis()
    gone: set[str] = set()
    if redis is None:
        ws = _local.get(workspace_id)
        if not ws:
            return []
        for member, exp in list(ws.conns.items()):
            if exp <= now:
                del ws.conns[member]
                gone.add(_uid(member))
    else:
        conns = _keys(workspace_id)[0]
        for member in await redis.zrangebyscore(conns, "-inf", now):
            if await redis.zrem(conns, member):
                gone.add(_uid(member))
    offline = []
    for uid in gone:
        if not await _user_online(workspace_id, uid, now):
            state = await _forget_user(workspace_id, uid)
            if state:
                offline.append(state)
    return offline


async def update(workspace_id: str, user, *, status: str, viewing: str | None) -> dict:
    """Set the user's status and viewed task; returns the new state."""
    uid = str(user.pk)
    redis = get_redis()
    if redis is None:
        raw = _local.setdefault(workspace_id, _LocalWorkspace()).state.get(uid)
    else:
        raw = await redis.hget(_keys(workspace_id)[1], uid)
    state = json.loads(raw) if raw else new_state(user)
    state.update(status=status, viewing=viewing)
    encoded = json.dumps(state)
    if redis is None:
        _local[workspace_id].state[uid] = encoded
    else:
        await redis.hset(_keys(workspace_id)[1], uid, encoded)
    return state


async def online(workspace_id: str) -> list[dict]:
    """The users online now, each once, in the order they came online."""
    now = time.time()
    redis = get_redis()
    if redis is None:
        ws = _local.get(workspace_id)
        if not ws:
            return []
        uids = {_uid(m) for m, exp in ws.conns.items() if exp > now}
        raws = [ws.state.get(uid) for uid in uids]
    else:
        conns, state = _keys(workspace_id)
        uids = sorted({_uid(m) for m in await redis.zrangebyscore(conns, now, "+inf")})
        raws = await redis.hmget(state, uids) if uids else []
    states = [json.loads(raw) for raw in raws if raw]
    return sorted((public(s) for s in states), key=lambda s: (s["since"], s["user"]["id"]))
