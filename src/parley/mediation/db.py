"""Storage: SQLAlchemy models, the engine (SQLite by default, PostgreSQL by URL) and migrations.

The schema is owned by Alembic (mediation/migrations); ``open_database`` upgrades it to head, so a
newer Parley opens an older database. SQLite runs in WAL mode with full fsync so that a server
killed mid-request keeps every committed transaction, and every write transaction takes the
database lock up front (BEGIN IMMEDIATE), so two parties accepting at once are serialised instead of
failing half-way. PostgreSQL locks the case row instead (see service.lock_case).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from parley import ParleyError


def now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(at: datetime | None) -> datetime | None:
    """A stored time, aware and in UTC. Every time is stored in UTC, but SQLite hands it back naive (and PostgreSQL
    in the session's zone)."""
    if at is None:
        return None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Base(DeclarativeBase):
    pass


class Mediator(Base):
    """A mediator's account: cases belong to it; the password is stored as an argon2 hash (identity.py)."""

    __tablename__ = "mediators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # IANA zone the pages show times in


class LoginSession(Base):
    """A signed-in mediator or a claimed party seat: the secret is a cookie (pages) or a bearer token (API);
    only its hash is stored. Exactly one of mediator_id and party_id is set."""

    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    mediator_id: Mapped[int | None] = mapped_column(ForeignKey("mediators.id"), nullable=True, index=True)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    issues: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | agreed | signed | closed
    agreement_package_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # shown to everyone
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # deadline reminder sent
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # ended without agreement
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # off the dashboard
    # None only for cases stored before accounts existed (migration 0003): `parley mediator adopt` assigns them.
    mediator_id: Mapped[int | None] = mapped_column(ForeignKey("mediators.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    agreed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Party(Base):
    __tablename__ = "parties"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # The one-time invitation: its hash until the seat is claimed, then None (the link the mediator saw is void).
    invite_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True, nullable=True)
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    passcode_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # argon2; to come back from elsewhere
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Where the server sends the invitation and notices (--smtp-url); None: the mediator passes links on.
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    constraints: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # private: only this party reads it
    constraints_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Draft(Base):
    """An item in the mediator's review queue: nothing in it reaches a party before approval."""

    __tablename__ = "drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # meso | message | counter
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"), nullable=True)  # addressee, or counter's author
    author: Mapped[str] = mapped_column(String(100))  # "ai:<writer>" or "party:<id>"
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | rejected
    leak_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    review_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Package(Base):
    """One set of terms in a case: parties accepting identical terms accept the same package."""

    __tablename__ = "packages"
    __table_args__ = (Index("ix_packages_terms_key", "case_id", "terms_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"))  # the draft that first put it on the table
    terms: Mapped[dict] = mapped_column(JSON)  # public to every party of the case once approved
    terms_key: Mapped[str] = mapped_column(String(64))  # values.terms_key(issues, terms)
    source: Mapped[str] = mapped_column(String(16))  # meso | counter
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class PackageOffer(Base):
    """A MESO offering a package to one party, with the rationale that party alone reads."""

    __tablename__ = "package_offers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"))
    rationale: Mapped[str] = mapped_column(Text, default="")


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("package_id", "party_id", name="one_response_per_party"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    decision: Mapped[str] = mapped_column(String(8))  # accept | reject
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # last change of mind


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"), nullable=True)  # None: every party
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # mediator | ai (approved draft)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class AuditEvent(Base):
    """Append-only (database triggers refuse UPDATE and DELETE; on PostgreSQL the service role may not
    either) and hash-chained per case (audit.py): who did what, when."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="one_audit_seq_per_case"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the case
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))  # the case's previous row's hash ('0' * 64 for the first)
    hash: Mapped[str] = mapped_column(String(64))       # sha256 of this row's content and prev_hash


DEFAULT_URL = "sqlite:///parley-mediation.db"


def _normalise_url(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask SQLAlchemy for psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str = DEFAULT_URL) -> Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below take over
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Readers (see ``readers``) take no lock: WAL lets them read a snapshot beside one writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("parley_read") else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True)
    raise ParleyError(f"unsupported database URL {safe_url(url)!r}: use sqlite:///path.db or postgresql://user@host/db")


def migrate(engine: Engine) -> bool:
    """Upgrade the schema to head; False (and nothing touched) when it is already there, so a service account
    without DDL rights (PostgreSQL, see ``SERVICE_GRANTS``) can open an up-to-date database."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return False
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        # SQLite changes a column by recreating the table, which must happen with foreign keys off (they
        # cannot be switched inside a transaction); every reference is checked before the commit instead.
        raw = connection.connection.driver_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
                if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise ParleyError(f"migration left broken references: {broken[:3]}")
                if not sqlite:
                    grant_service_role(connection)
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")
    return True


SERVICE_ROLE = "parley_service"


def grant_service_role(connection, role: str = SERVICE_ROLE) -> bool:
    """PostgreSQL: what the service's own role may do, when that role exists (docs/design.md, trust model).

    Everything on every table but the audit log, which it may only read and append to: no UPDATE, DELETE or
    TRUNCATE (TRUNCATE fires no row trigger, so only a missing privilege stops it). Run by every migration,
    as the owner, so tables added later are covered too.
    """
    if not connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").scalar():
        return False
    tables = [t for t in Base.metadata.tables if t != "audit_events"] + ["alembic_version"]
    connection.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(tables)} TO "{role}"')
    connection.exec_driver_sql(f'REVOKE ALL ON audit_events FROM "{role}"')
    connection.exec_driver_sql(f'GRANT SELECT, INSERT ON audit_events TO "{role}"')
    connection.exec_driver_sql(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    return True


def readers(sessions: sessionmaker) -> sessionmaker:
    """Sessions for requests that only read: on SQLite they do not queue behind writers."""
    engine = sessions.kw["bind"]
    return sessionmaker(engine.execution_options(parley_read=True), expire_on_commit=False)


def safe_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(_normalise_url(url)).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show only its scheme
        return url.split("://", 1)[0] + "://..." if "://" in url else "(not a database URL)"


def check_writable(engine: Engine) -> None:
    """Open a write transaction now, so that a database the service cannot write fails at start, not at the
    first party's request. Nothing is changed: the probe is rolled back."""
    with engine.connect() as connection:
        with connection.begin() as tx:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
            else:
                if connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
                    raise ParleyError("the server is read-only (a standby?)")
                connection.exec_driver_sql("CREATE TEMP TABLE parley_write_probe (x int) ON COMMIT DROP")
                if not connection.exec_driver_sql("SELECT has_table_privilege('audit_events', 'INSERT')").scalar():
                    raise ParleyError("this role may not write the audit log")
            tx.rollback()


def open_database(url: str = DEFAULT_URL) -> sessionmaker:
    shown = safe_url(url)
    if url.startswith("sqlite") and (url.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite:///:memory:", "sqlite://")
                                     or ":memory:" in url or "mode=memory" in url):
        raise ParleyError(f"database {shown}: an in-memory database loses every case when the server stops; "
                          "give a file, e.g. sqlite:///parley-mediation.db")
    engine = make_engine(url)
    try:
        migrate(engine)
        check_writable(engine)
    except ParleyError as exc:
        raise ParleyError(f"could not open the database {shown}: {exc}") from exc
    except Exception as exc:  # unreachable server, wrong credentials, a file we cannot write, not a database
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParleyError(f"could not open the database {shown}: {first.replace(url, shown)}") from exc
    return sessionmaker(engine, expire_on_commit=False)
