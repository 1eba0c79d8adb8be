"""clients' rights: requests, rectification history, correction notes, consents, disclosures, breaches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Consent and disclosure records are proof: the database refuses edits and deletions.
_APPEND_ONLY = ("consents", "consent_withdrawals", "disclosures")
_PG_TRIGGERS = (("no_update", "UPDATE", "ROW"), ("no_delete", "DELETE", "ROW"), ("no_truncate", "TRUNCATE", "STATEMENT"))


def upgrade() -> None:
    op.create_table('rights_requests',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=True),
    sa.Column('received', sa.Date(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=False),
    sa.Column('extended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extended_by', sa.String(length=64), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('export_sha256', sa.String(length=64), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('destruction_record', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_requests_dossier'), ['dossier'], unique=False)

    op.create_table('dossier_field_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('old_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=False),
    sa.Column('request', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dossier_field_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_field_history_dossier'), ['dossier'], unique=False)

    op.create_table('document_notes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('document', sa.String(length=32), nullable=False),
    sa.Column('text_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('request', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.ForeignKeyConstraint(['document'], ['documents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('document_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_notes_dossier'), ['dossier'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_notes_document'), ['document'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=128), nullable=False),
    sa.Column('types', sa.String(length=400), nullable=True),
    sa.Column('given', sa.Date(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('document', sa.String(length=32), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_dossier'), ['dossier'], unique=False)

    op.create_table('consent_withdrawals',
    sa.Column('consent', sa.String(length=16), nullable=False),
    sa.Column('withdrawn_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['consent'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('consent')
    )

    op.create_table('disclosures',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('document', sa.String(length=32), nullable=False),
    sa.Column('doc_type', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=128), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('consent', sa.String(length=16), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('disclosed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disclosed_by', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.ForeignKeyConstraint(['document'], ['documents.id'], ),
    sa.ForeignKeyConstraint(['consent'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosures_dossier'), ['dossier'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosures_document'), ['document'], unique=False)

    op.create_table('breaches',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('discovered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notify_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=False),
    sa.Column('authority_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('authority_reference', sa.String(length=64), nullable=True),
    sa.Column('delay_reason', sa.Text(), nullable=True),
    sa.Column('notified_recorded_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )

    op.create_table('breach_dossiers',
    sa.Column('breach', sa.String(length=16), nullable=False),
    sa.Column('dossier', sa.String(length=16), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('added_by', sa.String(length=64), nullable=False),
    sa.Column('informed_on', sa.Date(), nullable=True),
    sa.Column('informed_how', sa.String(length=16), nullable=True),
    sa.Column('informed_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['breach'], ['breaches.id'], ),
    sa.ForeignKeyConstraint(['dossier'], ['dossiers.number'], ),
    sa.PrimaryKeyConstraint('breach', 'dossier')
    )

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
    op.drop_table('breach_dossiers')
    op.drop_table('breaches')
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosures_document'))
        batch_op.drop_index(batch_op.f('ix_disclosures_dossier'))
    op.drop_table('disclosures')
    op.drop_table('consent_withdrawals')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_dossier'))
    op.drop_table('consents')
    with op.batch_alter_table('document_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_notes_document'))
        batch_op.drop_index(batch_op.f('ix_document_notes_dossier'))
    op.drop_table('document_notes')
    with op.batch_alter_table('dossier_field_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_field_history_dossier'))
    op.drop_table('dossier_field_history')
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_requests_dossier'))
    op.drop_table('rights_requests')
