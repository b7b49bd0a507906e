"""packages are identified by their terms: one package per distinct terms in a case, offered to any number of parties

Revision ID: 0002
Revises: 0001

A package used to be one row per MESO offer, so two parties accepting the very same terms from two
MESOs accepted two different packages and never agreed. Now a package is its canonical terms
(``terms_key``), and each MESO that offers it to a party adds a row to ``package_offers`` with that
party's rationale. Existing rows are migrated: each old package gets its key and an offer row for its
old addressee; duplicates already stored stay as they are and the agreement check groups them by key.
"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'


def _key(issues: list, terms: dict) -> str:
    # The same canonicalisation as parley.mediation.values.terms_key, frozen here as of this revision.
    canonical = {}
    for issue in issues:
        value = terms[issue["name"]]
        canonical[issue["name"]] = value if isinstance(value, str) else float(f"{float(value):.9g}")
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def upgrade() -> None:
    op.create_table('package_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('package_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_package_offers_package_id'), ['package_id'], unique=False)
    op.add_column('packages', sa.Column('terms_key', sa.String(length=64), nullable=True))

    bind = op.get_bind()
    cases = {cid: issues for cid, issues in bind.execute(sa.text("SELECT id, issues FROM cases"))}
    rows = bind.execute(sa.text("SELECT id, case_id, draft_id, terms, offered_to, rationale FROM packages")).fetchall()
    for pid, case_id, draft_id, terms, offered_to, rationale in rows:
        issues = cases[case_id] if not isinstance(cases[case_id], str) else json.loads(cases[case_id])
        terms = terms if not isinstance(terms, str) else json.loads(terms)
        bind.execute(sa.text("UPDATE packages SET terms_key = :k WHERE id = :id"), {"k": _key(issues, terms), "id": pid})
        if offered_to is not None:
            bind.execute(sa.text("INSERT INTO package_offers (package_id, party_id, draft_id, rationale) "
                                 "VALUES (:p, :party, :d, :r)"),
                         {"p": pid, "party": offered_to, "d": draft_id, "r": rationale or ""})

    # On SQLite this recreates 'packages'; parley.mediation.db.migrate runs it with foreign keys off.
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.alter_column('terms_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('offered_to')
        batch_op.drop_column('rationale')
        batch_op.create_index(batch_op.f('ix_packages_terms_key'), ['case_id', 'terms_key'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("packages merged by terms cannot be split back into one row per offer")
