"""Character rules shared by the API (which refuses) and the agent (which renders).

HEADER/COOKIE rule keys and APP_COOKIE cookie names end up inside haproxy sample
fetches such as `req.hdr(NAME)`, where `#`, `$`, `%` and quotes have meaning; so ostium
accepts the HTTP token characters of RFC 9110 minus those four.
"""

from __future__ import annotations

import re
import secrets

SAFE_TOKEN = re.compile(r"^[A-Za-z0-9!&*+.^_`|~-]{1,255}$")


def is_safe_token(value: str) -> bool:
    return bool(SAFE_TOKEN.match(value))


def new_secret(nbytes: int) -> str:
    """`nbytes` random bytes as URL-safe text that never starts with `-`, so that a
    secret given on a command line (`--token X`, `--os-password X`) is never taken for
    an option (argparse refused one enrollment token in 64)."""
    while True:
        text = secrets.token_urlsafe(nbytes)
        if not text.startswith("-"):
            return text
