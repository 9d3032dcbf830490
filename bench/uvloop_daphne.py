"""Daphne on uvloop: Daphne builds its Twisted reactor on
asyncio.new_event_loop(), so installing uvloop's policy first is enough.
Usage: same arguments as `python -m daphne`."""
import sys

import uvloop

uvloop.install()

from daphne.cli import CommandLineInterface  # noqa: E402

if __name__ == "__main__":
    sys.exit(CommandLineInterface.entrypoint())
