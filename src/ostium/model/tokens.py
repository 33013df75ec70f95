"""Character rules shared by the API (which refuses) and the agent (which renders).

HEADER/COOKIE rule keys and APP_COOKIE cookie names end up inside haproxy sample
fetches such as `req.hdr(NAME)`, where `#`, `$`, `%` and quotes have meaning; so ostium
accepts the HTTP token characters of RFC 9110 minus those four.
"""

from __future__ import annotations

import re

SAFE_TOKEN = re.compile(r"^[A-Za-z0-9!&*+.^_`|~-]{1,255}$")


def is_safe_token(value: str) -> bool:
    return bool(SAFE_TOKEN.match(value))
