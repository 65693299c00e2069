"""The toolkit's own tables, kept in the same database as the data they govern.

Keeping them there lets a destructive batch and its audit entry commit in one transaction.
``dsr init`` creates them and ``dsr migrate`` upgrades them (:mod:`dsr.ledger.migrate`); a
change here comes with a revision in ``dsr/ledger/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

ledger_metadata = MetaData()
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Request register (Art. 12(3)): identities are stored encrypted, the subject as a pseudonym.
requests = Table(
    "dsr_requests",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(20), nullable=False),
    Column("subject", String(40), nullable=False),
    Column("identities_enc", LargeBinary, nullable=False),
    Column("received", Date, nullable=False),
    Column("verified_by", String(200)),
    Column("verified_at", DateTime),
    Column("due", Date, nullable=False),
    Column("extended_due", Date),
    Column("extension_reason", Text),
    Column("extended_at", DateTime),
    Column("extension_months", Integer),
    Column("status", String(20), nullable=False),
    Column("outcome", Text),
    Column("outcome_log", Text),
    Column("created_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
    #: what the person wrote with the request (the portal's free text), sealed like identities
    Column("message_enc", LargeBinary),
    #: the language the person wrote in (the portal's), for what is sent to them
    Column("lang", String(5)),
    #: the holiday calendar that computed the due date (``DE-SN``); None before revision 0004
    Column("calendar", String(60)),
)

Index("ix_dsr_requests_status_due", requests.c.status, requests.c.due)

#: Audit trail: each entry's ``mac`` covers its content and the previous entry's mac.
audit = Table(
    "dsr_audit",
    ledger_metadata,
    Column("seq", BigId, primary_key=True, autoincrement=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("request_id", Integer),
    Column("subject", String(40)),
    Column("details", Text, nullable=False),
    Column("prev_mac", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

#: Legal holds: a table (all rows), given row keys of a table, or a person (encrypted identity).
holds = Table(
    "dsr_holds",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(128)),
    Column("row_keys", Text),
    Column("subject", String(40)),
    Column("identities_enc", LargeBinary),
    Column("reason", Text, nullable=False),
    Column("until", Date),
    Column("created_at", DateTime, nullable=False),
    Column("released_at", DateTime),
)

#: Restriction of processing (Art. 18): marked rows stay out of exports, purges, disclosure.
#: Reason prefix of restrictions made instead of an erasure (Art. 17(3), § 35 BDSG): they end
#: with their ``until`` date, when the purge removes the row and the mark.
ERASURE_REASON_PREFIX = "erasure withheld: "

restrictions = Table(
    "dsr_restrictions",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(128), nullable=False),
    Column("row_key", String(64), nullable=False),
    Column("subject", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", Integer),
    Column("since", DateTime, nullable=False),
    Column("until", Date),
    Column("lifted_at", DateTime),
    Column("informed_at", DateTime),
)
Index("ix_dsr_restrictions_table_key", restrictions.c.table_name, restrictions.c.row_key)
#: TRUE for restriction marks an erasure made (their reason carries the prefix)
MADE_BY_ERASURE = restrictions.c.reason.startswith(ERASURE_REASON_PREFIX, autoescape=True)

#: Rows an erasure kept (statutory, held, referenced, or the catalog's ``keep``), by keyed
#: pseudonym of each identity the erasure was asked with: once the row that linked them to the
#: person is gone or anonymised, this is how later access requests still find them (Art. 15:
#: the person may learn that restricted data is still held). Removed with the row.
kept_rows = Table(
    "dsr_kept",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(128), nullable=False),
    Column("row_key", String(64), nullable=False),
    Column("party", String(64), nullable=False),
    Column("identity", String(40), nullable=False),
    Column("request_id", Integer),
    Column("created_at", DateTime, nullable=False),
)
Index("ix_dsr_kept_identity", kept_rows.c.identity)
Index("ix_dsr_kept_table_key", kept_rows.c.table_name, kept_rows.c.row_key)

#: Supplementary statements (Art. 16 GDPR) on evidence rows that are annotated, not rewritten.
#: ``statement`` holds the corrected value and is sealed (AES-GCM, purpose ``supplements``).
supplements = Table(
    "dsr_supplements",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(128), nullable=False),
    Column("row_key", String(64), nullable=False),
    Column("field", String(128), nullable=False),
    Column("statement", LargeBinary, nullable=False),
    Column("subject", String(40), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("request_id", Integer),
)
Index("ix_dsr_supplements_table_key", supplements.c.table_name, supplements.c.row_key)

#: Purge progress, so a killed purge resumes where its last committed batch ended.
purge_checkpoints = Table(
    "dsr_purge_checkpoints",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("table_name", String(128), nullable=False),
    Column("as_of", DateTime, nullable=False),
    Column("last_key", String(64)),
    Column("rows_done", BigId, nullable=False, default=0),
    Column("finished_at", DateTime),
    UniqueConstraint("run_id", "rule", "table_name", name="uq_dsr_purge_checkpoint"),
)

#: Settings of the ledger itself; ``key_check`` identifies the secret it was created with.
settings = Table(
    "dsr_settings",
    ledger_metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

#: Lock rows for backends without advisory locks (SQLite).
locks = Table(
    "dsr_locks",
    ledger_metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
)

#: Export packages delivered to data subjects (encrypted files with single-use tokens).
exports = Table(
    "dsr_exports",
    ledger_metadata,
    Column("id", String(40), primary_key=True),
    Column("file_name", String(100), nullable=False),
    Column("subject", String(40), nullable=False),
    Column("request_id", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("downloaded_at", DateTime),
    Column("deleted_at", DateTime),
    Column("size", BigId),
    #: what the sealed file is: None for an Art. 20 package (ZIP), else e.g. application/pdf
    Column("media_type", String(100)),
)


#: Proof that a person controls an identity they gave with a request (EDPB Guidelines 01/2022,
#: proportionate verification): a one-time code mailed to an address (``channel`` email,
#: ``code_mac`` a keyed hash, never the code), or a check a staff member recorded (``method``).
#: ``identity`` is the keyed pseudonym of that one identity: rate limits count by it.
verifications = Table(
    "dsr_verifications",
    ledger_metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", Integer, nullable=False),
    Column("identity", String(40), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("method", String(200), nullable=False),
    Column("code_mac", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("attempts", Integer, nullable=False),
    Column("verified_at", DateTime),
    Column("verified_by", String(100)),
)
Index("ix_dsr_verifications_identity", verifications.c.identity, verifications.c.created_at)
Index("ix_dsr_verifications_request", verifications.c.request_id)

#: Staff of the console (``dsr user add``): passwords as scrypt hashes.
staff = Table(
    "dsr_staff",
    ledger_metadata,
    Column("name", String(100), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("disabled_at", DateTime),
)

#: Console sessions: ``id`` is the SHA-256 of the cookie's random token, never the token.
staff_sessions = Table(
    "dsr_staff_sessions",
    ledger_metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

#: Answers staff prepared for a request and a DPO approved before they reached the person
#: (a sealed report or package: ``package_id`` in dsr_exports, its token sealed) or ran (an
#: erasure's plan, approved, then executed).
answers = Table(
    "dsr_answers",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("summary", Text, nullable=False),
    Column("package_id", String(40)),
    Column("token_enc", LargeBinary),
    Column("prepared_by", String(100), nullable=False),
    Column("prepared_at", DateTime, nullable=False),
    Column("approved_by", String(100)),
    Column("approved_at", DateTime),
    Column("withdrawn_at", DateTime),
    #: who is approving it right now (the erasure running, the link being mailed)
    Column("claimed_by", String(100)),
    Column("claimed_at", DateTime),
)
Index("ix_dsr_answers_request", answers.c.request_id)


#: People who must not be re-created (Art. 17 erasure; Art. 21(3) objection to direct
#: marketing): one keyed pseudonym per normalised identity, never the value. Importers, CRM
#: syncs and sign-up flows ask :func:`dsr.ledger.suppression.suppressed` before they add anyone.
suppressions = Table(
    "dsr_suppressions",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(40), nullable=False),
    Column("identity_type", String(40), nullable=False),
    Column("reason", String(20), nullable=False),
    Column("request_id", Integer),
    Column("created_at", DateTime, nullable=False),
    #: lifted when the person came back by their own choice (with why, no personal data)
    Column("lifted_at", DateTime),
    Column("lifted_reason", Text),
)
Index("ix_dsr_suppressions_identity", suppressions.c.identity)


#: Proof of erasure (issue "erasure you can prove"): one receipt per erasure (and per purge
#: run), its body canonical JSON with no personal data (tables, counts, keyed digests of the
#: record keys, what was kept with its legal ground and end date), its SHA-256 sealed into the
#: chained audit entry of the same work, so ``dsr audit verify`` detects an altered receipt.
receipts = Table(
    "dsr_receipts",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("request_id", Integer),
    Column("subject", String(40)),
    Column("created_at", DateTime, nullable=False),
    Column("body", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
)
