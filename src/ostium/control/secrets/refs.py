"""Refs: a secret or container ref to its id, and which ids live listeners and pools use.

A ref is read the way barbicanclient reads it: only its last path element counts, and
it must be a UUID (a bare UUID is a ref too); the host in a ref is never contacted.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.model.enums import ProvisioningStatus as PS


def ref_id(ref: str | None) -> str | None:
    """The UUID a ref names, or None when it names none."""
    if not ref:
        return None
    last = ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        return str(uuid.UUID(last))
    except ValueError:
        return None


def listener_refs(li: m.Listener) -> list[str]:
    refs = [li.default_tls_container_ref, *(li.sni_container_refs or [])]
    refs += [li.client_ca_tls_container_ref, li.client_crl_container_ref]
    return [r for r in refs if r]


def pool_refs(p: m.Pool) -> list[str]:
    refs = [p.tls_container_ref, p.ca_tls_container_ref, p.crl_container_ref]
    return [r for r in refs if r]


def used_ids(session: Session, project: str) -> dict[str, str]:
    """Ids named by the project's live listeners and pools -> "listener <id>" or "pool <id>"."""
    used: dict[str, str] = {}
    for li in session.scalars(
        select(m.Listener).where(
            m.Listener.project_id == project, m.Listener.provisioning_status != PS.DELETED
        )
    ):
        for ref in listener_refs(li):
            if (rid := ref_id(ref)) is not None:
                used.setdefault(rid, f"listener {li.id}")
    for p in session.scalars(
        select(m.Pool).where(m.Pool.project_id == project, m.Pool.provisioning_status != PS.DELETED)
    ):
        for ref in pool_refs(p):
            if (rid := ref_id(ref)) is not None:
                used.setdefault(rid, f"pool {p.id}")
    return used
