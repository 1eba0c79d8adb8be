"""initial catalog

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# PostgreSQL triggers of an append-only table: (name suffix, event, level).
_PG_TRIGGERS = (("no_update", "UPDATE", "ROW"), ("no_delete", "DELETE", "ROW"), ("no_truncate", "TRUNCATE", "STATEMENT"))


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=True),
    sa.Column('document', sa.String(length=32), nullable=True),
    sa.Column('purpose', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('prev_hash', name='uq_audit_chain')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_dossier'), ['dossier'], unique=False)

    op.create_table('counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('scans',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('source_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scans_sha256'), ['sha256'], unique=False)

    op.create_table('users',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('dossiers',
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('coach', sa.String(length=64), nullable=False),
    sa.Column('commissioner', sa.String(length=128), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('client_name_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('bsn_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['coach'], ['users.name'], ),
    sa.PrimaryKeyConstraint('number')
    )
    op.create_table('quarantine_items',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('scan_id', sa.String(length=32), nullable=True),
    sa.Column('scan_page', sa.Integer(), nullable=True),
    sa.Column('reason_code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('blob_name', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cover_sheets',
    sa.Column('serial', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('doc_type', sa.String(length=32), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('first_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('times_used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('serial')
    )
    op.create_table('data_keys',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('key_id'),
    sa.UniqueConstraint('dossier')
    )
    op.create_table('documents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('doc_type', sa.String(length=32), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.String(length=32), nullable=True),
    sa.Column('cover_serial', sa.Integer(), nullable=True),
    sa.Column('scan_page', sa.Integer(), nullable=True),
    sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('file_name', sa.String(length=64), nullable=False),
    sa.Column('file_mac', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('low_text_pages', sa.Integer(), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['cover_serial'], ['cover_sheets.serial'], ),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_dossier'), ['dossier'], unique=False)

    op.create_table('page_texts',
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('words', sa.Integer(), nullable=False),
    sa.Column('low_text', sa.Boolean(), nullable=False),
    sa.Column('text_sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id', 'page')
    )
    op.create_table('search_tokens',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('document_id', sa.String(length=32), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token', 'document_id', 'page')
    )

    # The audit log is append-only: the database itself refuses edits and deletions.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events "
                   "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
        op.execute("CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events "
                   "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
    elif dialect == "postgresql":
        # One function for every append-only table (0002 uses it too); TRUNCATE skips row triggers.
        op.execute("CREATE FUNCTION dossier_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
        for name, when, each in _PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER audit_{name} BEFORE {when} ON audit_events "
                       f"FOR EACH {each} EXECUTE FUNCTION dossier_append_only()")



def downgrade() -> None:
    op.drop_table('search_tokens')
    op.drop_table('page_texts')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_dossier'))

    op.drop_table('documents')
    op.drop_table('data_keys')
    op.drop_table('cover_sheets')
    op.drop_table('quarantine_items')
    op.drop_table('dossiers')
    op.drop_table('users')
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scans_sha256'))

    op.drop_table('scans')
    op.drop_table('counters')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_dossier'))

    op.drop_table('audit_events')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS dossier_append_only()")
