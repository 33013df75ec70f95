"""Field types shared by the request schemas, with Octavia's coercion rules.

Integers accept JSON numbers or numeric strings; booleans accept true/false and the
strings t/yes/y/on/1 and f/no/n/off/0; strings never accept numbers. Every integer is
bounded by the range of the database column that stores it (`model/limits.DB_INT_MIN..
DB_INT_MAX`) unless the field narrows it further, so no number reaches the database as
an overflow. Every string that could later reach a haproxy or nftables config refuses
control characters (newline, carriage return, tab, NUL, DEL and the rest of Unicode
category Cc): that is the config-injection rule, documented in the README.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ostium.model.limits import DB_INT_MAX, DB_INT_MIN


class Wire(BaseModel):
    """Base for request bodies: unknown attributes are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def reject_control_chars(value: str) -> str:
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            raise ValueError("Value must not contain control characters (newlines, tabs, NUL)")
    return value


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("Value should be UUID format") from None


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("Value should be IPv4 or IPv6 format") from None


def _null_is_false(value: Any) -> Any:
    return False if value is None else value


def _reject_bool_for_int(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Value should be an integer")
    if isinstance(value, str):
        s = value.strip()
        if not re.fullmatch(r"[+-]?\d+", s):
            raise ValueError("Value should be an integer")
        return int(s)
    return value


def _dedupe_tags(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


Str255 = Annotated[str, Field(max_length=255), AfterValidator(reject_control_chars)]
Str36 = Annotated[str, Field(max_length=36), AfterValidator(reject_control_chars)]
Uuid = Annotated[str, AfterValidator(_uuid)]
IpAddr = Annotated[str, AfterValidator(_ip)]
Bool = Annotated[bool, BeforeValidator(_null_is_false)]
Int = Annotated[int, BeforeValidator(_reject_bool_for_int), Field(ge=DB_INT_MIN, le=DB_INT_MAX)]
Port = Annotated[int, BeforeValidator(_reject_bool_for_int), Field(ge=1, le=65535)]
Tags = Annotated[list[Str255], AfterValidator(_dedupe_tags)]
