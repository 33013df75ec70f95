"""identity: the built-in Keystone's domains, projects, users, roles, assignments,
tokens and application credentials

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30 08:10:00.000000

Written by hand after `db/identity_rows.py`. New tables only.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identity_domain',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False, unique=True),
        sa.Column('description', sa.String(255), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'identity_project',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('domain_id', sa.String(64), sa.ForeignKey('identity_domain.id'), nullable=False),
        sa.Column('description', sa.String(255), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.UniqueConstraint('domain_id', 'name'),
    )
    op.create_table(
        'identity_user',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('domain_id', sa.String(64), sa.ForeignKey('identity_domain.id'), nullable=False),
        sa.Column('password_hash', sa.String(255), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('default_project_id', sa.String(64), nullable=True),
        sa.Column('failed_auth_count', sa.Integer(), nullable=False),
        sa.Column('failed_auth_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('domain_id', 'name'),
    )
    op.create_table(
        'identity_role',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False, unique=True),
        sa.Column('description', sa.String(255), nullable=False),
    )
    op.create_table(
        'identity_assignment',
        sa.Column('user_id', sa.String(64),
                  sa.ForeignKey('identity_user.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('project_id', sa.String(64),
                  sa.ForeignKey('identity_project.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('role_id', sa.String(64),
                  sa.ForeignKey('identity_role.id', ondelete='CASCADE'), primary_key=True),
    )
    op.create_table(
        'identity_token',
        sa.Column('token_hash', sa.String(64), primary_key=True),
        sa.Column('audit_id', sa.String(32), nullable=False),
        sa.Column('user_id', sa.String(64), nullable=False, index=True),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('methods', sa.String(255), nullable=False),
        sa.Column('app_cred_id', sa.String(64), nullable=True),
        sa.Column('issued_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False, index=True),
        sa.Column('revoked', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'identity_app_credential',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.String(255), nullable=False),
        sa.Column('user_id', sa.String(64),
                  sa.ForeignKey('identity_user.id', ondelete='CASCADE'), nullable=False),
        sa.Column('project_id', sa.String(64),
                  sa.ForeignKey('identity_project.id', ondelete='CASCADE'), nullable=False),
        sa.Column('secret_hash', sa.String(64), nullable=False),
        sa.Column('roles', sa.String(1024), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('unrestricted', sa.Boolean(), nullable=False),
        sa.UniqueConstraint('user_id', 'name'),
    )


def downgrade() -> None:
    for table in ('identity_app_credential', 'identity_token', 'identity_assignment',
                  'identity_role', 'identity_user', 'identity_project', 'identity_domain'):
        op.drop_table(table)
