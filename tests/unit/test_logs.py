"""Log configuration as a user sets it: `[DEFAULT] debug` and `use_json` in the INI file,
`--log-level` and `--log-json` on the command line (run in a child process, so this
session's logging stays as pytest set it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
from ostium.control import logs
logs.configure(sys.argv[1] or None, sys.argv[2] == "json", sys.argv[3] or None)
logging.getLogger("ostium.test").debug("a debug line")
log = logging.getLogger("ostium.test")
log.info("created load balancer %s", logs.named("web", "9f0e1d2c-aaaa"))
"""


def _run(level: str, fmt: str, config: Path | None) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, level, fmt, str(config) if config else ""],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stderr.splitlines()


def test_info_by_default_plain_lines(tmp_path: Path) -> None:
    lines = _run("", "plain", None)
    assert len(lines) == 1
    assert lines[0].endswith("INFO ostium.test: created load balancer web (9f0e1d2c)")


def test_debug_and_json_from_the_config_file(tmp_path: Path) -> None:
    ini = tmp_path / "ostium.ini"
    ini.write_text("[DEFAULT]\ndebug = true\nuse_json = true\n")
    records = [json.loads(line) for line in _run("", "plain", ini)]
    assert [(r["level"], r["message"]) for r in records] == [
        ("DEBUG", "a debug line"),
        ("INFO", "created load balancer web (9f0e1d2c)"),
    ]
    assert all(r["logger"] == "ostium.test" and r["time"] for r in records)


def test_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    ini = tmp_path / "ostium.ini"
    ini.write_text("[DEFAULT]\ndebug = true\n")
    assert _run("warning", "plain", ini) == []
    (record,) = [json.loads(line) for line in _run("info", "json", None)]
    assert record["message"] == "created load balancer web (9f0e1d2c)"
