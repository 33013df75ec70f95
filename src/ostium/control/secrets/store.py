"""Secrets of the key-manager API: create (one or two steps), metadata, payload, list,
delete. Project-scoped: a secret of another project is a 404, as if it did not exist.

Rules and messages follow Barbican v1 (spec keymanager.md section 2). Callers: the
`/v1` routes; `material` reads payloads through `payload_of`. A payload is decrypted
only to be returned to its own project or turned into TLS material for the agent.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db.models import StoredSecret, utcnow
from ostium.control.secrets import crypto
from ostium.model.errors import ApiError, BadRequest, Conflict, NotFound, PayloadTooLarge
from ostium.model.tls import SecretStatus

SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
TEXT = "text/plain"
BINARY = ("application/octet-stream", "application/pkcs8")
MAX_PAYLOAD = 20000
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class NotAcceptable(ApiError):
    status = 406


class UnsupportedMediaType(ApiError):
    status = 415


def parse_id(secret_id: str, what: str = "secret") -> str:
    try:
        return str(uuid.UUID(secret_id))
    except ValueError:
        raise NotFound(f"Not Found. Provided {what} id is invalid.") from None


def _normal_type(content_type: str) -> str | None:
    ct = content_type.strip().lower()
    if ct in (TEXT, "text/plain;charset=utf-8", "text/plain; charset=utf-8"):
        return TEXT
    return ct if ct in BINARY else None


def _issue(reason: str) -> BadRequest:
    return BadRequest(f"Secret creation issue seen - {reason}.")


def _str_field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise _issue(
            f"Provided object does not match schema 'Secret': {name} must be a string "
            f"of at most 255 characters. Invalid property: '{name}'"
        )
    return value


def decode_payload(payload: Any, content_type: Any, encoding: Any) -> tuple[bytes, str]:
    """The payload bytes and the stored content type, or Barbican's 400/413."""
    if not isinstance(payload, str) or not payload.strip():
        raise _issue("If 'payload' specified, must be non empty")
    if not isinstance(content_type, str) or _normal_type(content_type) is None:
        raise _issue(
            "Provided object does not match schema 'Secret': payload_content_type is "
            "not one of text/plain, application/octet-stream, application/pkcs8. "
            "Invalid property: 'payload_content_type'"
        )
    ctype = _normal_type(content_type)
    assert ctype is not None
    if ctype == TEXT:
        if encoding is not None:
            raise _issue("Invalid payload for payload_content_encoding")
        data = payload.encode("utf-8")
    else:
        if encoding != "base64":
            raise _issue("payload_content_encoding must be base64 for binary payloads")
        try:
            data = base64.b64decode(payload.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise _issue("Invalid payload for payload_content_encoding") from None
    if len(data) > MAX_PAYLOAD:
        raise PayloadTooLarge("Provided information too large to process")
    return data, ctype


def create(session: Session, fernet: Fernet, project: str, creator: str, body: Any) -> StoredSecret:
    if not isinstance(body, dict):
        raise _issue("Provided object does not match schema 'Secret': not an object")
    stype = body.get("secret_type") or "opaque"
    if stype not in SECRET_TYPES:
        raise _issue(
            "Provided object does not match schema 'Secret': secret_type is not one of "
            + ", ".join(SECRET_TYPES)
            + ". Invalid property: 'secret_type'"
        )
    bits = body.get("bit_length")
    if bits is not None and (
        not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 32767
    ):
        raise _issue("Provided object does not match schema 'Secret': bit_length 1..32767")
    expiration = _expiration(body.get("expiration"))
    row = StoredSecret(
        id=str(uuid.uuid4()),
        project_id=project,
        creator_id=creator,
        name=(_str_field(body, "name") or "").strip() or None,
        secret_type=stype,
        algorithm=_str_field(body, "algorithm"),
        mode=_str_field(body, "mode"),
        bit_length=bits,
        expiration=expiration,
    )
    if body.get("payload") is not None:
        data, ctype = decode_payload(
            body["payload"], body.get("payload_content_type"), body.get("payload_content_encoding")
        )
        row.payload, row.content_type = crypto.encrypt(fernet, data), ctype
    elif body.get("payload_content_type") is not None:
        raise _issue("payload must be provided when payload_content_type is specified")
    session.add(row)
    return row


def _expiration(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _issue("Invalid date for 'expiration'") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    if when <= utcnow():
        raise _issue("'expiration' is before current time")
    return when


def put_payload(
    session: Session,
    fernet: Fernet,
    project: str,
    secret_id: str,
    body: bytes,
    ctype: str,
    enc: str,
) -> None:
    """The second step of a two-step store (PUT)."""
    row = get(session, project, secret_id)
    kind = (ctype or "").split(";")[0].strip().lower()
    if kind not in (TEXT, "application/octet-stream"):
        raise UnsupportedMediaType(f"Content-Type of '{ctype}' is not supported for PUT.")
    if not body:
        raise BadRequest("No data supplied to process.")
    if row.payload is not None:
        raise Conflict("Secret already has data, cannot modify it.")
    if enc.strip().lower() == "base64":
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("Invalid payload for payload_content_encoding") from None
    if len(body) > MAX_PAYLOAD:
        raise PayloadTooLarge("Provided information too large to process")
    row.payload, row.content_type = crypto.encrypt(fernet, body), kind


def get(session: Session, project: str, secret_id: str) -> StoredSecret:
    row = session.get(StoredSecret, parse_id(secret_id))
    if row is None or row.project_id != project:
        raise NotFound("Secret not found.")
    return row


def payload_of(fernet: Fernet, row: StoredSecret) -> bytes:
    if row.payload is None:
        raise NotFound("Not Found. Sorry but your secret has no payload.")
    return crypto.decrypt(fernet, row.payload)


def payload_for(fernet: Fernet, row: StoredSecret, accept: str) -> tuple[bytes, str]:
    """The payload in the type `accept` asks for (spec 2.4), and that type."""
    wanted = (accept or "application/octet-stream").split(",")[0].split(";")[0].strip().lower()
    if wanted == "*/*":
        wanted = row.content_type or "application/octet-stream"
    data = payload_of(fernet, row)
    if wanted == TEXT:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise NotAcceptable("Wrong payload content-type") from None
        return data, "text/plain; charset=utf-8"
    if wanted in BINARY:
        return data, wanted
    raise NotAcceptable("Wrong payload content-type")


def _stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def view(row: StoredSecret, base: str, microversion: str = "1.0") -> dict[str, Any]:
    out: dict[str, Any] = {
        "secret_ref": f"{base}/v1/secrets/{row.id}",
        "name": row.name,
        "secret_type": row.secret_type,
        "status": SecretStatus.ACTIVE.value,
        "created": _stamp(row.created_at),
        "updated": _stamp(row.updated_at),
        "expiration": _stamp(row.expiration),
        "algorithm": row.algorithm,
        "bit_length": row.bit_length,
        "mode": row.mode,
        "creator_id": row.creator_id,
    }
    if row.content_type is not None:
        out["content_types"] = {"default": row.content_type}
    if microversion != "1.0":
        out["consumers"] = []
    return out


def listing(
    session: Session, project: str, query: dict[str, str], base: str, microversion: str
) -> dict[str, Any]:
    try:
        offset = max(0, int(query.get("offset", 0)))
        limit = min(MAX_LIMIT, max(0, int(query.get("limit", DEFAULT_LIMIT))))
    except ValueError:
        raise BadRequest("URI provided invalid query string parameters.") from None
    where = [StoredSecret.project_id == project]
    if query.get("name"):
        where.append(StoredSecret.name == query["name"])
    if query.get("secret_type"):
        where.append(StoredSecret.secret_type == query["secret_type"])
    if query.get("alg"):
        where.append(StoredSecret.algorithm == query["alg"])
    if query.get("mode"):
        where.append(StoredSecret.mode == query["mode"])
    total = session.scalar(select(func.count()).select_from(StoredSecret).where(*where)) or 0
    rows = session.scalars(
        select(StoredSecret)
        .where(*where)
        .order_by(StoredSecret.created_at, StoredSecret.id)
        .offset(offset)
        .limit(limit)
    ).all()
    out: dict[str, Any] = {
        "secrets": [view(r, base, microversion) for r in rows],
        "total": total,
    }
    out.update(page_links(f"{base}/v1/secrets", query, offset, limit, total))
    return out


def page_links(
    href: str, query: dict[str, str], offset: int, limit: int, total: int
) -> dict[str, str]:
    rest = "".join(f"&{k}={v}" for k, v in query.items() if k not in ("limit", "offset"))
    links: dict[str, str] = {}
    if limit and offset + limit < total:
        links["next"] = f"{href}?limit={limit}&offset={offset + limit}{rest}"
    if offset > 0:
        links["previous"] = f"{href}?limit={limit}&offset={max(0, offset - limit)}{rest}"
    return links
