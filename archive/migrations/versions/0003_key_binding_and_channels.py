"""the catalog knows its master key and holds wrapped purpose keys; audit events say through which
channel and from where; dossiers can be found by BSN through a keyed hash

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row: the id of the master key this catalog belongs to. Every command compares it with
    # the configured key file, so a missing or different key is refused before anything is written.
    op.create_table('archive_keys',
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=True),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('purpose')
    )
    op.add_column('audit_events', sa.Column('channel', sa.String(length=16), nullable=True))
    op.add_column('audit_events', sa.Column('address', sa.String(length=64), nullable=True))
    # HMAC of the BSN under the archive's bsn-lookup key: `dossier find --bsn` without a plaintext index.
    op.add_column('dossiers', sa.Column('bsn_lookup', sa.String(length=64), nullable=True))
    op.create_index('ix_dossiers_bsn_lookup', 'dossiers', ['bsn_lookup'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dossiers_bsn_lookup', table_name='dossiers')
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('bsn_lookup')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('address')
        batch_op.drop_column('channel')
    op.drop_table('archive_keys')
