"""How the control plane logs: level, plain or JSON lines, and how objects are named.

Role: `configure` is called once by the CLI, before settings are built. The level comes
from `--log-level`, else `[DEFAULT] debug = true` (DEBUG), else INFO; JSON lines from
`--log-json` or `[DEFAULT] use_json = true` (oslo.log's names). Everything goes to
stderr, the local agent's lines included (it inherits the stream). `named` is the one
way a log line names an object: `web (1a2b3c4d)`, or the short id alone.
"""

from __future__ import annotations

import configparser
import datetime as dt
import json
import logging
import sys
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = {"alembic": logging.WARNING, "httpx": logging.WARNING, "uvicorn.access": logging.WARNING}
"""Libraries whose INFO lines say nothing a user needs (one per request, per migration)."""


def named(name: str | None, obj_id: str | None) -> str:
    short = (obj_id or "")[:8]
    return f"{name} ({short})" if name else short


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def from_config(config_file: str | None) -> tuple[bool, bool]:
    """`[DEFAULT] debug` and `[DEFAULT] use_json` of the INI file (False if absent)."""
    parser = configparser.ConfigParser(interpolation=None)
    if config_file:
        parser.read(config_file)
    return (
        parser.getboolean("DEFAULT", "debug", fallback=False),
        parser.getboolean("DEFAULT", "use_json", fallback=False),
    )


def configure(level: str | None, use_json: bool, config_file: str | None = None) -> None:
    debug, json_from_config = from_config(config_file)
    chosen = (level or ("debug" if debug else "info")).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if use_json or json_from_config else logging.Formatter(PLAIN))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
