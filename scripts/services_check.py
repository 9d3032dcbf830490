"""Tell whether PostgreSQL and Redis named by the environment answer.

Used by `make test` (to choose whether to run the service pass) and by the
test suite (to skip, or with REQUIRE_SERVICES=1 fail, tests that need them).
Exit 0 when both answer; otherwise print why and exit 1.
"""
import os
import socket
import sys
from urllib.parse import urlparse


def reachable(url: str, default_port: int) -> str | None:
    """None when a TCP connection opens, else the reason."""
    if not url:
        return "not configured"
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} does not answer ({exc.strerror or exc})"


def main() -> int:
    problems = []
    for name, url, port in (("PostgreSQL", os.environ.get("TEST_DATABASE_URL", ""), 5432),
                            ("Redis", os.environ.get("TEST_REDIS_URL", ""), 6379)):
        reason = reachable(url, port)
        if reason:
            problems.append(f"{name}: {reason}")
    for problem in problems:
        print(f"services: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
