"""Containers of the key-manager API (generic, rsa, certificate) and their consumers,
and the deletes of secrets and containers (refused while a listener or pool uses them).

Rules and messages follow Barbican v1 (spec keymanager.md section 3). Project-scoped like
the secrets. Callers: the `/v1` routes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostium.control.db.models import SecretContainer, StoredSecret
from ostium.control.secrets import refs, store
from ostium.model.errors import BadRequest, Conflict, NotFound
from ostium.model.tls import SecretStatus

TYPES = ("generic", "rsa", "certificate")
CERT_NAMES = {"certificate", "private_key", "private_key_passphrase", "intermediates"}


def _issue(reason: str) -> BadRequest:
    return BadRequest(f"Container creation issue seen - {reason}.")


def create(session: Session, project: str, creator: str, body: Any, base: str) -> SecretContainer:
    if not isinstance(body, dict):
        raise _issue("Provided object does not match schema 'Container': not an object")
    ctype = body.get("type")
    if ctype not in TYPES:
        raise _issue(
            "Provided object does not match schema 'Container': type is not one of "
            "generic, rsa, certificate. Invalid property: 'type'"
        )
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise _issue("Provided object does not match schema 'Container'. Invalid property: 'name'")
    given = body.get("secret_refs") or []
    if not isinstance(given, list):
        raise _issue("Provided object does not match schema 'Container': secret_refs")
    entries: list[dict[str, str | None]] = []
    for item in given:
        ref = item.get("secret_ref") if isinstance(item, dict) else None
        ename = item.get("name") if isinstance(item, dict) else None
        if (
            not isinstance(ref, str)
            or not ref
            or (ename is not None and not isinstance(ename, str))
        ):
            raise _issue("Provided object does not match schema 'Container': secret_refs")
        if not ref.startswith(f"{base}/v1/secrets/") and refs.ref_id(ref) != ref:
            raise _issue("Secret_ref does not match the configured hostname, please try again")
        entries.append({"name": ename, "secret_id": refs.ref_id(ref)})
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise _issue("Duplicate reference names are not allowed")
    ids = [e["secret_id"] for e in entries]
    if len(set(ids)) != len(ids):
        raise _issue("Duplicate secret ids are not allowed")
    if ctype == "certificate" and ("certificate" not in names or not set(names) <= CERT_NAMES):
        raise _issue(
            "Provided object does not match schema 'Container': certificate containers "
            "hold 'certificate' and optionally private_key, private_key_passphrase, "
            "intermediates"
        )
    if ctype == "rsa" and not {"public_key", "private_key"} <= set(names):
        raise _issue("Provided object does not match schema 'Container': rsa needs keys")
    for e in entries:
        sid = e["secret_id"]
        row = session.get(StoredSecret, sid) if sid else None
        if row is None or row.project_id != project:
            raise NotFound(f"Secret provided for '{e['name']}' doesn't exist.")
    c = SecretContainer(
        id=str(uuid.uuid4()),
        project_id=project,
        creator_id=creator,
        name=name,
        type=ctype,
        secret_refs=entries,
        consumers=[],
    )
    session.add(c)
    return c


def get(session: Session, project: str, container_id: str) -> SecretContainer:
    row = session.get(SecretContainer, store.parse_id(container_id, "container"))
    if row is None or row.project_id != project:
        raise NotFound("Secrets container not found.")
    return row


def view(c: SecretContainer, base: str) -> dict[str, Any]:
    return {
        "container_ref": f"{base}/v1/containers/{c.id}",
        "name": c.name,
        "type": c.type,
        "status": SecretStatus.ACTIVE.value,
        "created": c.created_at.isoformat(),
        "updated": c.updated_at.isoformat(),
        "creator_id": c.creator_id,
        "secret_refs": [
            {"name": e["name"], "secret_ref": f"{base}/v1/secrets/{e['secret_id']}"}
            for e in c.secret_refs
        ],
        "consumers": list(c.consumers),
    }


def listing(session: Session, project: str, query: dict[str, str], base: str) -> dict[str, Any]:
    try:
        offset = max(0, int(query.get("offset", 0)))
        limit = min(store.MAX_LIMIT, max(0, int(query.get("limit", store.DEFAULT_LIMIT))))
    except ValueError:
        raise BadRequest("URI provided invalid query string parameters.") from None
    where = [SecretContainer.project_id == project]
    if query.get("name"):
        where.append(SecretContainer.name == query["name"])
    if query.get("type"):
        where.append(SecretContainer.type == query["type"])
    total = session.scalar(select(func.count()).select_from(SecretContainer).where(*where)) or 0
    rows = session.scalars(
        select(SecretContainer)
        .where(*where)
        .order_by(SecretContainer.created_at, SecretContainer.id)
        .offset(offset)
        .limit(limit)
    ).all()
    out: dict[str, Any] = {"containers": [view(c, base) for c in rows], "total": total}
    out.update(store.page_links(f"{base}/v1/containers", query, offset, limit, total))
    return out


def _consumer(body: Any) -> dict[str, str]:
    name = body.get("name") if isinstance(body, dict) else None
    url = body.get("URL") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name or len(name) > 36:
        raise BadRequest(
            "Provided object does not match schema 'Consumer'. Invalid property: 'name'"
        )
    if not isinstance(url, str) or not url or len(url) > 255:
        raise BadRequest(
            "Provided object does not match schema 'Consumer'. Invalid property: 'URL'"
        )
    return {"name": name, "URL": url}


def add_consumer(c: SecretContainer, body: Any) -> None:
    consumer = _consumer(body)
    if consumer not in c.consumers:
        c.consumers = [*c.consumers, consumer]


def remove_consumer(c: SecretContainer, body: Any) -> None:
    consumer = _consumer(body)
    if consumer not in c.consumers:
        raise NotFound("Consumer not found.")
    c.consumers = [x for x in c.consumers if x != consumer]


def delete_container(session: Session, project: str, container_id: str) -> None:
    c = get(session, project, container_id)
    user = refs.used_ids(session, project).get(c.id)
    if user is not None:
        raise Conflict(f"Container {c.id} is in use by {user}; change or delete it first.")
    session.delete(c)


def delete_secret(session: Session, project: str, secret_id: str) -> None:
    row = store.get(session, project, secret_id)
    used = refs.used_ids(session, project)
    user = used.get(row.id)
    if user is None:
        for c in session.scalars(
            select(SecretContainer).where(SecretContainer.project_id == project)
        ):
            if c.id in used and any(e["secret_id"] == row.id for e in c.secret_refs):
                user = used[c.id]
                break
    if user is not None:
        raise Conflict(f"Secret {row.id} is in use by {user}; change or delete it first.")
    session.delete(row)
