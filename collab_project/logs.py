"""One JSON object per log line, with the worker's pid and any `extra` fields."""
import json
import logging
import os
import re
from datetime import datetime, timezone

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# Never let a credential reach the log, whatever a caller passes in.
_SECRET = re.compile(r"(token|password|secret|authorization|refresh|access)=([^&\s]+)", re.I)


def scrub(text: str) -> str:
    return _SECRET.sub(r"\1=[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "worker": os.getpid(),
            "msg": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)
