"""Request body parsing: JSON, one root key, pydantic validation, Octavia messages.

Every failure becomes a 400 whose faultstring names the field and the value; nothing
here can raise anything but BadRequest. Nesting deeper than `MAX_JSON_DEPTH` is refused
before the JSON parser (or pydantic, or an error message) could recurse that deep.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ostium.model.errors import BadRequest
from ostium.model.limits import MAX_JSON_DEPTH

M = TypeVar("M", bound=BaseModel)

_REASONS = {
    "string_too_long": "Value should have a maximum character requirement of {max_length}",
    "less_than_equal": "Value should be lower or equal to {le}",
    "greater_than_equal": "Value should be greater or equal to {ge}",
    "bool_parsing": "Value not an unambiguous boolean",
    "bool_type": "Value not an unambiguous boolean",
    "int_parsing": "Value should be an integer",
    "int_type": "Value should be an integer",
    "int_from_float": "Value should be an integer",
    "string_type": "Value should be a string",
    "list_type": "Value should be a list",
    "dict_type": "Value should be an object",
    "model_type": "Value should be an object",
    "model_attributes_type": "Value should be an object",
    "float_parsing": "Value should be a number",
    "missing": "Mandatory field missing.",
}


def _fmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.encode("unicode_escape").decode("ascii") if isinstance(text, str) else str(text)
    return text[:300]


def _message(err: Any, root: str, param: str) -> str:
    loc = [str(p) for p in err["loc"]]
    etype = err["type"]
    if etype == "extra_forbidden":
        return f"Unknown attribute for argument {param}.{root}: {'.'.join(loc)}"
    field = ".".join(loc) or root
    ctx = err.get("ctx") or {}
    if etype in ("enum", "literal_error"):
        reason = f"Value should be one of: {ctx.get('expected', '')}".replace("'", "")
    elif etype == "value_error":
        reason = str(ctx.get("error", err["msg"]))
    else:
        tmpl = _REASONS.get(etype)
        reason = tmpl.format(**ctx) if tmpl else err["msg"]
    if etype == "missing":
        return f"Invalid input for field/attribute {field}. Value: 'None'. {reason}"
    value = _fmt_value(err.get("input"))
    return f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}"


# Linear time: a string left open runs to the end of the text instead of being retried
# from every later quote.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(raw: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do
    not count; on text that is not JSON the answer is a bound the parser will refuse)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _too_deep() -> BadRequest:
    return BadRequest(
        f"Request body is nested deeper than the limit of {MAX_JSON_DEPTH} levels "
        "of objects and arrays"
    )


def load_json(raw: bytes) -> Any:
    if nesting_depth(raw) > MAX_JSON_DEPTH:
        raise _too_deep()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Request is not in valid JSON format") from None
    except RecursionError:  # a backstop only: the depth check above comes first
        raise _too_deep() from None


def parse(raw: bytes, root: str, model: type[M], param: str | None = None) -> M:
    data = load_json(raw)
    param = param or root
    if not isinstance(data, dict):
        raise BadRequest(
            f"Invalid input for field/attribute {root}. Value: "
            f"'{_fmt_value(data)}'. Value should be an object"
        )
    extra = [k for k in data if k != root]
    if extra:
        raise BadRequest(f"Unknown attribute for argument {param}: {extra[0]}")
    if root not in data or data[root] is None:
        raise BadRequest(
            f"Invalid input for field/attribute {root}. Value: 'None'. Mandatory field missing."
        )
    return validate(data[root], root, model, param)


def validate(obj: Any, root: str, model: type[M], param: str | None = None) -> M:
    if not isinstance(obj, dict):
        raise BadRequest(
            f"Invalid input for field/attribute {root}. Value: "
            f"'{_fmt_value(obj)}'. Value should be an object"
        )
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise BadRequest(_message(exc.errors()[0], root, param or root)) from None
