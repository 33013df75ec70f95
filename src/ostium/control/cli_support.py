"""What the `ostium` sub-commands that work on the database share: settings built once,
the database opened (migrated) for the one command, an `ApiError` printed as one line
with exit status 1 (never a traceback), and the database closed whatever happened.
Called by `cli_identity` and `host_cli`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ostium.control.settings import Settings
from ostium.model.errors import ApiError

Command = Callable[[argparse.Namespace, Settings, Any], int]


def database_command(
    settings: Callable[[argparse.Namespace], Settings],
    prepare: Callable[[Settings], Any],
    fn: Command,
    label: Callable[[argparse.Namespace], str],
) -> Callable[[argparse.Namespace], int]:
    """An argparse `func` running `fn(args, settings, db)`; errors start with `label`."""

    def go(args: argparse.Namespace) -> int:
        s = settings(args)
        db = prepare(s)
        try:
            return fn(args, s, db)
        except ApiError as exc:
            print(f"{label(args)}: {exc.message}", file=sys.stderr)
            return 1
        finally:
            db.dispose()

    return go
