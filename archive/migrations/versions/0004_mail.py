"""intake mailbox: the copies of intake mail seen, and the sealed message beside a quarantine item

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quarantine_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_blob', sa.String(length=64), nullable=True))
    op.create_table('mail_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('capture_key', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=16), nullable=False),
    sa.Column('mailbox', sa.String(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delete_on', sa.Date(), nullable=False),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['quarantine_items.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mailbox', 'uidvalidity', 'uid', name='uq_mail_messages_uid')
    )
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_messages_capture_key'), ['capture_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_messages_capture_key'))
    op.drop_table('mail_messages')
    with op.batch_alter_table('quarantine_items', schema=None) as batch_op:
        batch_op.drop_column('message_blob')
