"""`python -m collab_project.daphne ARGS`: Daphne (same arguments as
`python -m daphne`) on uvloop's event loop.

Daphne builds its Twisted reactor on `asyncio.new_event_loop()`, so installing
uvloop's policy before Daphne starts is all it takes. Every frame Twisted
writes registers and unregisters its socket with the loop; uvloop does that in
C, which cuts a worker's CPU per delivered event by ~15-25 %
(docs/performance.md). UVLOOP=0 runs the standard asyncio loop.
"""
import os
import sys


def main() -> int:
    if os.environ.get("UVLOOP", "1").strip().lower() not in ("0", "false", "no", "off"):
        import uvloop

        uvloop.install()
    from daphne.cli import CommandLineInterface

    return CommandLineInterface.entrypoint()


if __name__ == "__main__":
    sys.exit(main())
