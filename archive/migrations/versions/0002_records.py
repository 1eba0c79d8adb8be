"""records management: paper files and history, legal holds, destruction records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_APPEND_ONLY = ("paper_events", "destruction_records")
# PostgreSQL triggers of an append-only table: (name suffix, event, level).
_PG_TRIGGERS = (("no_update", "UPDATE", "ROW"), ("no_delete", "DELETE", "ROW"), ("no_truncate", "TRUNCATE", "STATEMENT"))


def upgrade() -> None:
    op.create_table('paper_files',
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=False),
    sa.Column('cabinet', sa.String(length=64), nullable=False),
    sa.Column('shelf', sa.String(length=64), nullable=True),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('registered_by', sa.String(length=64), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('dossier')
    )
    op.create_table('paper_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=True),
    sa.Column('cabinet', sa.String(length=64), nullable=True),
    sa.Column('shelf', sa.String(length=64), nullable=True),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('paper_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_events_dossier'), ['dossier'], unique=False)

    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('placed_by', sa.String(length=64), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_holds_dossier'), ['dossier'], unique=False)

    op.create_table('destruction_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('rule_text', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('trigger_date', sa.Date(), nullable=False),
    sa.Column('authorised_by', sa.String(length=64), nullable=False),
    sa.Column('performed_by', sa.String(length=128), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('performed_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=True),
    sa.Column('documents', sa.Integer(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('files', sa.Integer(), nullable=True),
    sa.Column('page_texts', sa.Integer(), nullable=True),
    sa.Column('search_tokens', sa.Integer(), nullable=True),
    sa.Column('witness', sa.String(length=128), nullable=True),
    sa.Column('certificate', sa.String(length=64), nullable=True),
    sa.Column('method', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('destruction_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destruction_records_dossier'), ['dossier'], unique=False)

    # Paper history and destruction records are proof: the database refuses edits and deletions.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
    elif dialect == "postgresql":  # dossier_append_only() comes from 0001
        for table in _APPEND_ONLY:
            for name, when, each in _PG_TRIGGERS:
                op.execute(f"CREATE TRIGGER {table}_{name} BEFORE {when} ON {table} "
                           f"FOR EACH {each} EXECUTE FUNCTION dossier_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    elif dialect == "postgresql":
        for table in _APPEND_ONLY:
            for name, _when, _each in _PG_TRIGGERS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}")
    with op.batch_alter_table('destruction_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destruction_records_dossier'))
    op.drop_table('destruction_records')
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legal_holds_dossier'))
    op.drop_table('legal_holds')
    with op.batch_alter_table('paper_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_events_dossier'))
    op.drop_table('paper_events')
    op.drop_table('paper_files')
