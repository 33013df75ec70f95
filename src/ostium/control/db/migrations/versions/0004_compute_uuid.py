"""amphora compute ids become UUIDs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00.000000

Data only, no schema change. Clients parse an amphora's `compute_id` as a UUID (in
Octavia it is the Nova server's id); the compute drivers used to record their own handle
(a namespace name, `noop-<amphora id>`). Each such value becomes the UUID the drivers
now report for it (`drivers.compute.base.compute_uuid`, copied here so this migration
never changes): uuid5 of "<host>/<handle>". The namespace name follows from the amphora
id, so nothing is lost.
"""

import uuid

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COMPUTE_IDS = uuid.UUID("0b7e6f52-3c1d-4a8e-9f27-6d5a1c4e8b03")

amphora = sa.table(
    'amphora',
    sa.column('id', sa.String),
    sa.column('compute_id', sa.String),
    sa.column('host', sa.String),
)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(amphora.c.id, amphora.c.compute_id, amphora.c.host).where(
            amphora.c.compute_id.is_not(None)
        )
    ).all()
    for amp_id, handle, host in rows:
        if _is_uuid(handle):
            continue
        conn.execute(
            amphora.update()
            .where(amphora.c.id == amp_id)
            .values(compute_id=str(uuid.uuid5(COMPUTE_IDS, f"{host or ''}/{handle}")))
        )


def downgrade() -> None:
    pass  # a uuid5 cannot be turned back into the handle; UUIDs work either way
