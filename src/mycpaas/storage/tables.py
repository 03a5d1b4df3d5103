"""The schema, as SQLAlchemy Core tables: the only module that names columns.

Times are stored as naive UTC datetimes so that SQLite and PostgreSQL behave identically.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("owner_account_sid", String(34), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("type", String(8), nullable=False),
    Column("primary_token_sealed", Text, nullable=False),
    Column("primary_token_digest", String(64), nullable=False),
    Column("secondary_token_sealed", Text, nullable=True),
    Column("secondary_token_digest", String(64), nullable=True),
    Column("secondary_created_at", DateTime, nullable=True),
    Column("token_rotated_at", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

retired_tokens = Table(
    "retired_tokens",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False),
    Column("token_digest", String(64), nullable=False),
    Column("retired_at", DateTime, nullable=False),
    Index("ix_retired_tokens_account_digest", "account_sid", "token_digest"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("key_type", String(16), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)

phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("phone_number", String(32), nullable=False, unique=True),
    Column("friendly_name", String(64), nullable=False),
    Column("sms_url", Text, nullable=False, default=""),
    Column("sms_method", String(8), nullable=False, default="POST"),
    Column("sms_fallback_url", Text, nullable=False, default=""),
    Column("sms_fallback_method", String(8), nullable=False, default="POST"),
    Column("status_callback", Text, nullable=False, default=""),
    Column("status_callback_method", String(8), nullable=False, default="POST"),
    Column("voice_url", Text, nullable=True),
    Column("voice_method", String(8), nullable=False, default="POST"),
    Column("voice_fallback_url", Text, nullable=True),
    Column("voice_fallback_method", String(8), nullable=False, default="POST"),
    Column("voice_caller_id_lookup", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("sid", String(34), nullable=False, unique=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("from_number", String(32), nullable=True),
    Column("to_number", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("num_segments", Integer, nullable=False),
    Column("num_media", Integer, nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("status_callback", Text, nullable=True),
    Column("validity_period", Integer, nullable=True),
    Column("messaging_service_sid", String(34), nullable=True),
    Column("price", String(16), nullable=True),
    Column("price_unit", String(8), nullable=True),
    Column("carrier_message_id", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("sent_at", DateTime, nullable=True),
    # When the message reached each later status (domain/status_times.py; sent_at above is sent's), set by the
    # UPDATE that moves the status; NULL for a status not passed, and in rows older than migration 0014.
    Column("accepted_at", DateTime, nullable=True),
    Column("queued_at", DateTime, nullable=True),
    Column("sending_at", DateTime, nullable=True),
    Column("delivered_at", DateTime, nullable=True),
    Column("undelivered_at", DateTime, nullable=True),
    Column("failed_at", DateTime, nullable=True),
    Column("canceled_at", DateTime, nullable=True),
    # Keyset paging walks (account_sid, id) backwards; filtered lists get their own composite index.
    Index("ix_messages_account_id", "account_sid", "id"),
    Index("ix_messages_account_to_id", "account_sid", "to_number", "id"),
    Index("ix_messages_account_from_id", "account_sid", "from_number", "id"),
    Index("ix_messages_account_sent_at", "account_sid", "sent_at"),
    Index("ix_messages_carrier_message_id", "carrier_message_id"),
    # Messages awaiting a receipt are handed back to the carrier at start-up; a partial index keeps that
    # lookup small however many delivered messages the table holds.
    Index(
        "ix_messages_awaiting_receipt",
        "id",
        sqlite_where=text("status = 'sent'"),
        postgresql_where=text("status = 'sent'"),
    ),
    # A From's queued messages are counted at every send (21611 over the limit); only queued rows are in it.
    Index(
        "ix_messages_queued_from",
        "from_number",
        sqlite_where=text("status = 'queued'"),
        postgresql_where=text("status = 'queued'"),
    ),
    # The Debugger lists an account's failed and undelivered messages, newest first: a small subset, so the
    # index holds only them (0015), with the columns its filters test, so a row that does not match is
    # rejected from the index without reading the table. The log's status filter walks it too (failed or
    # undelivered: storage/message_log.status_is).
    Index(
        "ix_messages_account_failed",
        "account_sid",
        "id",
        "error_code",
        "updated_at",
        "to_number",
        "from_number",
        sqlite_where=text("status IN ('failed', 'undelivered')"),
        postgresql_where=text("status IN ('failed', 'undelivered')"),
    ),
    # The log filtered by a status few messages reach walks a partial index, so that a filter that matches
    # little or nothing does not walk the whole log: failed and undelivered walk the Debugger's above (0018
    # dropped their own, which held the same rows: one write less per failed message), canceled this one. A row
    # enters only when it fails or is canceled, so the delivery path's status changes do not write them
    # (storage/message_log.RARE_STATUSES).
    Index(
        "ix_messages_account_canceled_id",
        "account_sid",
        "id",
        sqlite_where=text("status = 'canceled'"),
        postgresql_where=text("status = 'canceled'"),
    ),
    # The statuses a message only passes (0019): few rows at any moment, so a filter on one of them that
    # matches little or nothing reads only those; each outbound message enters and leaves it once (sending).
    Index(
        "ix_messages_account_in_flight",
        "account_sid",
        "status",
        "id",
        sqlite_where=text("status IN ('accepted', 'scheduled', 'sending', 'receiving')"),
        postgresql_where=text("status IN ('accepted', 'scheduled', 'sending', 'receiving')"),
    ),
    # The directions other than outbound-api (0019), written by the inbound and reply paths only: the log
    # filtered by one of them does not walk the whole log when the account has none or few.
    Index(
        "ix_messages_account_inbound_id",
        "account_sid",
        "id",
        sqlite_where=text("direction = 'inbound'"),
        postgresql_where=text("direction = 'inbound'"),
    ),
    Index(
        "ix_messages_account_reply_id",
        "account_sid",
        "id",
        sqlite_where=text("direction = 'outbound-reply'"),
        postgresql_where=text("direction = 'outbound-reply'"),
    ),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("run_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # The fencing token: raised by every claim and never lowered (a hand-back lowers `attempts`, so that
    # cannot fence). Finishing, retrying, postponing or extending a job is done only under the claim held.
    Column("claim", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    # What the job carries besides `ref`, e.g. a webhook event (JSON); NULL for message sends.
    Column("payload", Text, nullable=True),
    # Where a webhook job goes (scheme://host:port), so a dispatcher can skip origins it has no room for.
    Column("origin", String(255), nullable=True),
    Index("ix_jobs_run_at", "run_at"),
    Index("ix_jobs_kind_run_at", "kind", "run_at"),
    Index("ix_jobs_ref_id", "ref", "id"),
    # Ids are never reused (SQLite would hand a deleted newest row's id out again): a job's id and claim
    # token together name one claim for ever, and runners remember ids of jobs they finished.
    sqlite_autoincrement=True,
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("sid", String(34), nullable=False, unique=True),
    Column("account_sid", String(34), nullable=False),
    Column("message_sid", String(34), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("idempotency_token", String(64), nullable=False),
    Column("message_status", String(20), nullable=False),
    Column("request_method", String(8), nullable=False),
    Column("request_url", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("response_excerpt", Text, nullable=True),
    Column("redelivery_of", String(34), nullable=True),  # the attempt a Debugger redelivery repeats (0015)
    Column("created_at", DateTime, nullable=False),
    # By message: the API's and the dashboard's lists.
    Index("ix_webhook_attempts_message_id", "message_sid", "id"),
    # The Debugger's failed attempts by account, newest first, with the columns its filters test: only
    # failures are in it, so a delivered attempt's INSERT pays nothing for it (0011 dropped the index on
    # every attempt by account).
    Index(
        "ix_webhook_attempts_account_failed",
        "account_sid",
        "id",
        "error_code",
        "created_at",
        "message_sid",
        sqlite_where=text("outcome IN ('failed', 'retrying')"),
        postgresql_where=text("outcome IN ('failed', 'retrying')"),
    ),
    # Housekeeping removes attempts older than the retention, oldest first (services/housekeeping.py).
    Index("ix_webhook_attempts_created_at", "created_at"),
)

dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_sign_in_at", DateTime, nullable=True),
    # A platform administrator (the first user is one): manages what belongs to no account, the carriers.
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
)

# A browser session: the cookie holds a random identifier, the row only its keyed digest.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", AutoId, ForeignKey("dashboard_users.id"), nullable=False, index=True),
    Column("account_sid", String(34), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False, index=True),
    Column("unlocked_until", DateTime, nullable=True),
)

# One-time codes behind the first-start set-up link; a code creates the first user of an account.
setup_codes = Table(
    "setup_codes",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_sid", String(34), nullable=False),
    Column("action", String(40), nullable=False),
    Column("actor", String(300), nullable=False),
    Column("address", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_audit_log_account_id", "account_sid", "id"),
)

# SMSC connections (issue 5). The password is sealed with the server secret, bound to the carrier's name.
carriers = Table(
    "carriers",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("system_id", String(15), nullable=False),
    Column("password_sealed", Text, nullable=False),
    Column("system_type", String(12), nullable=False),
    Column("bind_type", String(12), nullable=False),
    Column("window", Integer, nullable=False),
    Column("max_mps", Integer, nullable=False),
    Column("source_ton", Integer, nullable=False),
    Column("source_npi", Integer, nullable=False),
    Column("dest_ton", Integer, nullable=False),
    Column("dest_npi", Integer, nullable=False),
    Column("coding", String(8), nullable=False),
    Column("concatenation", String(4), nullable=False),
    Column("prefixes", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Binds the SMSC allows this account at once, across every process (carrier_binds holds one row per bind).
    Column("max_binds", Integer, nullable=False, server_default="1"),
)

# One row per submitted part: the SMSC's message id (normalised) for receipt correlation, and the part's
# outcome once its receipt came. A message's final status is decided when every part has one.
message_parts = Table(
    "message_parts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_sid", String(34), nullable=False, index=True),
    Column("carrier", String(64), nullable=False),
    Column("part", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("carrier_message_id", String(64), nullable=False),
    Column("outcome", String(24), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Index("ix_message_parts_carrier_id", "carrier", "carrier_message_id"),
)

# Receipts whose message id was not (yet) known: a receipt can overtake its submit_sm_resp. Kept and
# retried; one that still matches nothing after MYCPAAS_UNMATCHED_RECEIPT_RETENTION_DAYS is removed by
# housekeeping (services/housekeeping.py), counted and logged.
pending_receipts = Table(
    "pending_receipts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("carrier", String(64), nullable=False),
    Column("carrier_message_id", String(64), nullable=False),
    Column("alternate_id", Text, nullable=True),  # other readings of the id (hex/decimal), space-separated
    Column("outcome", String(24), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Index("ix_pending_receipts_carrier_id", "carrier", "carrier_message_id"),
    Index("ix_pending_receipts_received_at", "received_at"),
)

# Parts of a concatenated inbound message, held until the last one arrives (acknowledged once stored).
inbound_parts = Table(
    "inbound_parts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("carrier", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("destination", String(32), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("seqnum", Integer, nullable=False),
    # Since 0008 the part's user data and data_coding, decoded once the message is whole; `text` is left from
    # parts stored before (decoded alone), and NULL on newer ones.
    Column("text", Text, nullable=True),
    Column("payload", LargeBinary, nullable=True),
    Column("data_coding", Integer, nullable=True),
    Column("received_at", DateTime, nullable=False),
    Index(
        "ix_inbound_parts_carrier_source_destination_reference",
        "carrier",
        "source",
        "destination",
        "reference",
    ),
    Index("ix_inbound_parts_received_at", "received_at"),
)

# Fingerprints of the inbound deliveries recorded lately (MYCPAAS_SMPP_MO_DEDUPE_SECONDS): the primary key makes
# a redelivery of one (its acknowledgement lost) a no-op in every process; older rows are pruned.
inbound_seen = Table(
    "inbound_seen",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("received_at", DateTime, nullable=False),
    Index("ix_inbound_seen_received_at", "received_at"),
)

# Issue 12, scale-out: what processes sharing one PostgreSQL coordinate through.

# Named values of the platform itself, e.g. `secret_check`: a value sealed with the server secret, so a process
# holding another secret is refused at start instead of failing to unseal tokens later.
platform_state = Table(
    "platform_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# The change signal: one version per topic ("credentials", "carriers"), raised in the transaction of every change
# that other processes cache or hold; each process polls the rows (services/changes.py). No row: version 0.
change_versions = Table(
    "change_versions",
    metadata,
    Column("topic", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("changed_at", DateTime, nullable=False),
)

# SMPP bind leases: a carrier allows `carriers.max_binds` binds; slot 0..max_binds-1 each has one row, held by at
# most one process (`holder`) until `locked_until`, under a `claim` token that only grows.
carrier_binds = Table(
    "carrier_binds",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("holder", String(128), nullable=True),
    Column("claim", BigInteger, nullable=False, server_default="0"),
    Column("locked_until", DateTime, nullable=True),
    Column("bound", Boolean, nullable=False, server_default=text("false")),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", DateTime, nullable=True),
    # Submissions holding a slot of the bind's window at its last renewal (written by the renewal, not per message).
    Column("window_in_use", Integer, nullable=False, server_default="0"),
)

# Failed attempts counted across processes (failed API authentications, dashboard sign-ins), per key and window
# bucket; each process merges its local counts in here in batches.
throttle_failures = Table(
    "throttle_failures",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("failures", Integer, nullable=False),
    Index("ix_throttle_failures_bucket", "bucket"),
)

# Sender pacing across processes: each From number's next free slot.
sender_slots = Table(
    "sender_slots",
    metadata,
    Column("sender", String(64), primary_key=True),
    Column("next_at", DateTime, nullable=False),
    Column("last_at", DateTime, nullable=True),
)

# Issue 14, Messaging Services (MG…): a sender pool with its own inbound and status settings. Every column is a
# field of Twilio's Service resource, stored and echoed (docs/messaging-services.md says which are acted on).
messaging_services = Table(
    "messaging_services",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False),
    Column("friendly_name", String(64), nullable=False),
    Column("inbound_request_url", Text, nullable=True),
    Column("inbound_method", String(8), nullable=False),
    Column("fallback_url", Text, nullable=True),
    Column("fallback_method", String(8), nullable=False),
    Column("status_callback", Text, nullable=True),
    Column("sticky_sender", Boolean, nullable=False),
    Column("mms_converter", Boolean, nullable=False),
    Column("smart_encoding", Boolean, nullable=False),
    Column("scan_message_content", String(8), nullable=False),
    Column("fallback_to_long_code", Boolean, nullable=False),
    Column("area_code_geomatch", Boolean, nullable=False),
    Column("validity_period", Integer, nullable=False),
    Column("synchronous_validation", Boolean, nullable=False),
    Column("usecase", String(16), nullable=False),
    Column("use_inbound_webhook_on_number", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Lists walk an account's services by sid (keyset paging).
    Index("ix_messaging_services_account_sid", "account_sid", "sid"),
)

# The pool's numbers: the primary key on the number makes "a number belongs to at most one service" the database's
# rule, so two services adding one number at once cannot both win.
messaging_service_numbers = Table(
    "messaging_service_numbers",
    metadata,
    Column("phone_number_sid", String(34), ForeignKey("phone_numbers.sid"), primary_key=True),
    Column("service_sid", String(34), ForeignKey("messaging_services.sid"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_messaging_service_numbers_service_number", "service_sid", "phone_number_sid"),
)

# Alphanumeric sender IDs (AI…); Twilio allows one per service, hence the unique service_sid.
messaging_service_alpha_senders = Table(
    "messaging_service_alpha_senders",
    metadata,
    Column("sid", String(34), primary_key=True),
    # Named here: the naming convention's name would pass PostgreSQL's 63-character limit.
    Column(
        "service_sid",
        String(34),
        ForeignKey("messaging_services.sid", name="fk_ms_alpha_senders_service_sid"),
        nullable=False,
        unique=True,
    ),
    Column("alpha_sender", String(11), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Sticky sender: which pool number last served a destination through a service, so that the same To keeps getting
# the same From. Filled by the sender choice at delivery; a number leaving the pool (removed, released, moved to
# another account) or the service being deleted removes its rows.
messaging_service_sticky_senders = Table(
    "messaging_service_sticky_senders",
    metadata,
    Column(
        "service_sid",
        String(34),
        ForeignKey("messaging_services.sid", name="fk_ms_sticky_senders_service_sid"),
        primary_key=True,
    ),
    Column("to_number", String(32), primary_key=True),
    Column(
        "phone_number_sid",
        String(34),
        ForeignKey("phone_numbers.sid", name="fk_ms_sticky_senders_phone_number_sid"),
        nullable=False,
    ),
    Column("last_used_at", DateTime, nullable=False),
    Index("ix_messaging_service_sticky_senders_phone_number_sid", "phone_number_sid"),
)

# Issue 16, credentials in use: when each Auth Token and API key last authenticated a request, and from which
# address. Keyed by the credential's keyed digest (the same digest accounts and api_keys hold: a token keeps its
# row when it is promoted from secondary to primary); written at most about once a minute per credential and
# process, off the request path (services/credential_uses.py).
credential_uses = Table(
    "credential_uses",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("used_at", DateTime, nullable=False),
    Column("used_from", String(64), nullable=False),
)

# The overview's charts read these, never a scan of messages (migration 0016; docs/dashboard.md, Overview).
# Messages by the hour they were created, their current status and error code (0: none): a new message adds one
# where its creator inserts it (storage/message_counts.py, one upsert per batch); a status change moves one from
# its old key to its new key, by a trigger of the database (SQLite: per row; PostgreSQL: per statement, over its
# transition tables). `messages` and `segments` always equal a GROUP BY over the messages table.
message_counts = Table(
    "message_counts",
    metadata,
    Column("account_sid", String(34), primary_key=True),
    Column("hour", DateTime, primary_key=True),
    Column("status", String(20), primary_key=True),
    Column("error_code", Integer, primary_key=True),
    Column("messages", BigInteger, nullable=False),
    Column("segments", BigInteger, nullable=False),
)

# Webhook attempts made, by the hour they were made and their outcome: added with the dispatcher's outcome batch
# (storage/webhooks.insert_attempts); kept when housekeeping removes the attempts themselves.
webhook_counts = Table(
    "webhook_counts",
    metadata,
    Column("account_sid", String(34), primary_key=True),
    Column("hour", DateTime, primary_key=True),
    Column("outcome", String(16), primary_key=True),
    Column("attempts", BigInteger, nullable=False),
)
