"""hosts: agents on many machines, enrolled with one-time tokens

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-30 08:30:00.000000

One row per host (one agent): its name, agent URL, the declared networks it has, its
capacity and zone, its state (ENROLLING, ACTIVE, DRAINING, DOWN) and, until it joins,
the SHA-256 of its enrollment token.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'host',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False, unique=True),
        sa.Column('agent_url', sa.String(255), nullable=True),
        sa.Column('networks', sa.String(1024), nullable=False, server_default=''),
        sa.Column('capacity', sa.Integer, nullable=False, server_default='1000'),
        sa.Column('zone', sa.String(255), nullable=True),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('token_hash', sa.String(128), nullable=True, unique=True),
        sa.Column('token_expires_at', sa.DateTime, nullable=True),
        sa.Column('last_seen', sa.DateTime, nullable=True),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table('host')
