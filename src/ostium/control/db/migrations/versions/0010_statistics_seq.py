"""statistics seq: the heartbeat whose counters a listener_statistics row holds

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-30 12:00:00.000000

The health manager writes statistics at an interval from the reports it holds in
memory; with several health managers each holds the heartbeats it accepted, and this
column lets the write skip a report not newer than the one already folded in. One
nullable column (NULL: rows written before, any report is newer).
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('listener_statistics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_seq', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('listener_statistics', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_seq')
