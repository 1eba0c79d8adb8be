"""a scan made to file a quarantined item by hand knows the item, dossier and type

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In the catalog, not only in the flow's parameters: a run resumed after a crash (or by the
    # watcher's repair) files the pages where they were assigned, and a retried assignment finds
    # the filing that already happened instead of filing the pages twice.
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assign_item', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('assign_dossier', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('assign_type', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_scans_assign_item', ['assign_item'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.drop_index('ix_scans_assign_item')
        batch_op.drop_column('assign_type')
        batch_op.drop_column('assign_dossier')
        batch_op.drop_column('assign_item')
