"""Log lines as text (the default) or, with LOG_FORMAT=json, one JSON object per line.

A JSON line has `time`, `level`, `logger` and `message`, then every field the caller passed with
`extra=`; an exception is one `exception` field, so a traceback never spans lines and a log
collector keeps it with its message.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord carries by itself: anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CORE = ("time", "level", "logger", "message")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        doc: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name in _STANDARD_ATTRIBUTES or name.startswith("_"):
                continue
            doc["extra_" + name if name in _CORE else name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
            if record.exc_info[0] is not None:
                doc.setdefault("exception_type", record.exc_info[0].__name__)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, default=str)


def configure_logging(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
    """Set up the root logger from LOG_LEVEL and LOG_FORMAT; an unknown LOG_FORMAT logs as text.

    Called before settings are loaded, so a bad LOG_FORMAT is reported by the settings check in
    plain words rather than here.
    """
    env = os.environ if env is None else env
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if env.get("LOG_FORMAT", "").strip().lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=env.get("LOG_LEVEL", "INFO").upper(), handlers=[handler])
