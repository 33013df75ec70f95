"""Identifiers of the objects ostium stores (pure)."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A fresh object id: a random UUID in its canonical text form."""
    return str(uuid.uuid4())
