"""The product's settings for benchmark workers, with one change: a fast
password hasher. Setting up hundreds of users through the REST API would
otherwise spend minutes in PBKDF2 (0.5 s a hash here); no password is hashed
on the measured path (sockets authenticate with a JWT)."""
from collab_project.settings import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
