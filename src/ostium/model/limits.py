"""Bounds on what a request may carry (pure, no I/O).

Role: the numbers behind "bad input gets a 400, never a 500". The request schemas
(`control/schemas`) bound every integer field by the database column's range, the body
parser bounds JSON nesting, the listing code bounds sort keys, filter terms and tag
values, and the request context bounds project ids. Nothing here decides a rule of the
load-balancing domain (those ranges live in the schemas, as Octavia's API defines them).
"""

from __future__ import annotations

import re
from typing import Final

DB_INT_MIN: Final = -(2**31)
DB_INT_MAX: Final = 2**31 - 1
"""Every integer column is `Integer`: 32 bits on PostgreSQL (SQLite's 64 are wider), so
an API integer outside this range could never be stored."""

MAX_JSON_DEPTH: Final = 32
"""Nesting of objects and arrays in a request body. The deepest legitimate body (a load
balancer graph down to a member's tags) is 10 levels."""

MAX_SORT_KEYS: Final = 32
"""Sort keys of one list request (a collection has fewer sortable attributes)."""

MAX_FILTER_TERMS: Final = 64
"""Query parameters of one list request (filters, fields, paging, sorting)."""

MAX_TAG_FILTER_VALUES: Final = 64
"""Tag values of one list request, over `tags`, `tags-any`, `not-tags`, `not-tags-any`."""

PROJECT_ID_MAX_LENGTH: Final = 255
PROJECT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:@-]+")
"""Project ids as Keystone makes them (hex uuids) and as people name them in noauth
mode (`demo`, `team-a`, `svc@domain`): no spaces, quotes, slashes or control chars."""
