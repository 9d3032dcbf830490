"""Scoped reads of presence."""
from asgiref.sync import async_to_sync

from presence import store
from workspaces.access import access_membership


def presence_list(*, user, workspace_id) -> list[dict]:
    """The members online now in a workspace the caller belongs to (NotFound otherwise)."""
    membership = access_membership(user=user, workspace_id=workspace_id)
    # Sync callers (REST views) run this from a worker thread; under ASGI
    # async_to_sync hands the coroutine to the server's loop and its Redis client.
    return async_to_sync(store.online)(str(membership.workspace_id))
