"""The product's ASGI application for benchmark workers, with the baseline's
changes that are not settings.

BENCH_CHANNELS_DISPATCH=1 (part of the "tutorial" configuration): Channels'
own `AsyncConsumer.dispatch`, which hops to the database thread to close old
connections before every handler; the product's `JsonSocketConsumer.dispatch`
skips that hop."""
import os

from collab_project.asgi import application  # noqa: F401  (sets Django up)

if os.environ.get("BENCH_CHANNELS_DISPATCH") == "1":
    from channels.consumer import AsyncConsumer

    from collab_project.sockets import JsonSocketConsumer

    JsonSocketConsumer.dispatch = AsyncConsumer.dispatch
