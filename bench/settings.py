"""The product's settings for benchmark workers, with one change: a fast
password hasher. Setting up hundreds of users through the REST API would
otherwise spend minutes in PBKDF2 (0.5 s a hash here); no password is hashed
on the measured path (sockets authenticate with a JWT)."""
import os

from collab_project.settings import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if os.environ.get("BENCH_DB_THREADS") == "1":
    # Lever "db-threads": Channels runs every consumer's database call on one
    # thread per process (database_sync_to_async is thread-sensitive and
    # consumers have no ThreadSensitiveContext), so a worker's socket writes,
    # connects and heartbeats queue behind each other. This runs them on the
    # event loop's thread pool instead (each call still closes its connection,
    # a socket's calls stay sequential, a workspace's writes still serialise on
    # its row lock).
    import channels.db

    class _ParallelDatabaseSyncToAsync(channels.db.DatabaseSyncToAsync):
        def __init__(self, func, thread_sensitive=True, executor=None):
            super().__init__(func, thread_sensitive=False, executor=executor)

    channels.db.database_sync_to_async = _ParallelDatabaseSyncToAsync
