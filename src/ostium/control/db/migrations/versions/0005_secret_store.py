"""secret store: secrets and containers (Barbican v1 subset)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:20:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'secret',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('project_id', sa.String(255), nullable=False, index=True),
        sa.Column('creator_id', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=True),
        sa.Column('secret_type', sa.String(16), nullable=False),
        sa.Column('algorithm', sa.String(255), nullable=True),
        sa.Column('mode', sa.String(255), nullable=True),
        sa.Column('bit_length', sa.Integer, nullable=True),
        sa.Column('expiration', sa.DateTime, nullable=True),
        sa.Column('content_type', sa.String(64), nullable=True),
        sa.Column('payload', sa.Text, nullable=True),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False),
    )
    op.create_table(
        'secret_container',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('project_id', sa.String(255), nullable=False, index=True),
        sa.Column('creator_id', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=True),
        sa.Column('type', sa.String(16), nullable=False),
        sa.Column('secret_refs', sa.JSON, nullable=False),
        sa.Column('consumers', sa.JSON, nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table('secret_container')
    op.drop_table('secret')
