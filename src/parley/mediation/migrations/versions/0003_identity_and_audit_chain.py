"""mediator accounts, sessions and one-time party invitations; a hash chain through the audit log

Revision ID: 0003
Revises: 0002

- ``mediators`` and ``login_sessions`` are new. A case belongs to a mediator (``cases.mediator_id``); the
  old per-case mediator token is dropped. Cases from before this revision have no mediator until
  ``parley mediator create EMAIL --adopt-orphans`` gives them one.
- A party's old link token becomes an unclaimed one-time invitation (``parties.invite_hash``). Its
  mediator saw it, so the first thing to do with an old case is to re-issue each party's invitation.
- Audit rows get ``seq``, ``prev_hash`` and ``hash``: existing rows are chained in id order, per case.
  The append-only triggers are dropped for that and created again.
"""
import hashlib
import json
from datetime import timezone

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'

GENESIS = "0" * 64


def _row_hash(case_id, seq, at, actor, action, detail, prev):
    # The same content hash as parley.mediation.audit.row_hash, frozen here as of this revision.
    at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
    content = json.dumps({"case": case_id, "seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor,
                          "action": action, "detail": detail, "prev": prev}, sort_keys=True, separators=(",", ":"),
                         ensure_ascii=True)
    return hashlib.sha256(content.encode()).hexdigest()


def _triggers(create: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("""CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
                      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""" if create
                   else "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"""CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events
                       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""" if create
                   else f"DROP TRIGGER IF EXISTS audit_events_no_{verb.lower()}")


def upgrade() -> None:
    op.create_table('mediators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('mediators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mediators_email'), ['email'], unique=True)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mediator_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_cases_mediator_id', 'mediators', ['mediator_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_cases_mediator_id'), ['mediator_id'], unique=False)
        batch_op.drop_index('ix_cases_mediator_token_hash')
        batch_op.drop_column('mediator_token_hash')

    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.drop_index('ix_parties_token_hash')
        batch_op.alter_column('token_hash', new_column_name='invite_hash', existing_type=sa.String(length=64),
                              nullable=True)
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('passcode_hash', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_parties_invite_hash'), ['invite_hash'], unique=True)

    op.create_table('login_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('mediator_id', sa.Integer(), nullable=True),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mediator_id'], ['mediators.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_login_sessions_mediator_id'), ['mediator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_sessions_party_id'), ['party_id'], unique=False)

    _triggers(create=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, case_id, at, actor, action, detail FROM audit_events ORDER BY case_id, id")).fetchall()
    heads = {}
    for rid, case_id, at, actor, action, detail in rows:
        if isinstance(at, str):  # SQLite through a raw text query
            from datetime import datetime
            at = datetime.fromisoformat(at)
        detail = json.loads(detail) if isinstance(detail, str) else (detail or {})
        seq, prev = heads.get(case_id, (0, GENESIS))
        digest = _row_hash(case_id, seq + 1, at, actor, action, detail, prev)
        bind.execute(sa.text("UPDATE audit_events SET seq = :seq, prev_hash = :prev, hash = :h WHERE id = :id"),
                     {"seq": seq + 1, "prev": prev, "h": digest, "id": rid})
        heads[case_id] = (seq + 1, digest)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint('one_audit_seq_per_case', ['case_id', 'seq'])
    _triggers(create=True)


def downgrade() -> None:
    raise NotImplementedError("accounts and the audit chain cannot be turned back into per-case tokens")
