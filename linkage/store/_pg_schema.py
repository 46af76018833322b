"""The PostgreSQL schema of the link index, as versioned migrations.

The logical schema is the SQLite engine's (``_sqlite_schema.MIGRATIONS``); this is
its PostgreSQL spelling. Differences that keep behaviour identical:

* Text keys that are paged through (``agency_id``) use ``COLLATE "C"``, the
  byte order SQLite's BINARY collation uses, whatever the database's locale.
* ``score`` and ``threshold`` are ``DOUBLE PRECISION`` (SQLite's REAL is a
  double; PostgreSQL's REAL is not).
* Node IDs, link IDs, run IDs and disclosure IDs come from sequences, which
  never hand out a value twice, even after a rollback.
* Event and audit sequence numbers are NOT sequences: the store numbers them
  under the writer lock, so they have no gaps and follow commit order.
* ``batches.batch_seq`` stands in for SQLite's rowid as the insertion-order
  tie-break of "the last batch".

Each migration moves the schema from version i to i + 1. Never edit a
published migration; append a new one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE SEQUENCE node_ids AS BIGINT;
    CREATE TABLE agencies (
        agency_id      TEXT COLLATE "C" PRIMARY KEY,
        agency_no      INTEGER NOT NULL UNIQUE,
        display_name   TEXT NOT NULL,
        contact_card   BYTEA NOT NULL,
        create_time_us BIGINT NOT NULL,
        update_time_us BIGINT NOT NULL
    );
    CREATE TABLE links (
        link_id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        create_time_us BIGINT NOT NULL,
        update_time_us BIGINT NOT NULL
    );
    CREATE TABLE records (
        node_id            BIGINT PRIMARY KEY DEFAULT nextval('node_ids'),
        agency_id          TEXT COLLATE "C" NOT NULL REFERENCES agencies(agency_id),
        record_key         BYTEA NOT NULL,
        key_epoch          BIGINT NOT NULL,
        schema_fingerprint TEXT NOT NULL,
        clk                BYTEA NOT NULL,
        pointer_token      BYTEA NOT NULL,
        consent            BYTEA NOT NULL,
        linkable           BOOLEAN NOT NULL,
        content_digest     BYTEA NOT NULL,
        link_id            BIGINT REFERENCES links(link_id),
        update_time_us     BIGINT NOT NULL,
        UNIQUE (agency_id, record_key)
    );
    ALTER SEQUENCE node_ids OWNED BY records.node_id;
    CREATE INDEX records_by_link ON records(link_id);
    CREATE INDEX records_by_space ON records(key_epoch, schema_fingerprint, node_id);
    CREATE TABLE edges (
        node_a BIGINT NOT NULL,
        node_b BIGINT NOT NULL,
        score  DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (node_a, node_b)
    );
    CREATE INDEX edges_by_b ON edges(node_b);
    CREATE TABLE batches (
        agency_id      TEXT COLLATE "C" NOT NULL REFERENCES agencies(agency_id),
        batch_id       TEXT COLLATE "C" NOT NULL,
        request_digest BYTEA NOT NULL,
        response       BYTEA NOT NULL,
        commit_time_us BIGINT NOT NULL,
        batch_seq      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        PRIMARY KEY (agency_id, batch_id)
    );
    CREATE INDEX batches_by_time ON batches(agency_id, commit_time_us);
    CREATE TABLE events (
        sequence      BIGINT PRIMARY KEY,
        event_time_us BIGINT NOT NULL,
        kind          TEXT NOT NULL,
        agency_id     TEXT COLLATE "C",
        batch_id      TEXT COLLATE "C",
        source_links  BIGINT[] NOT NULL,
        target_links  BIGINT[] NOT NULL,
        record_count  BIGINT NOT NULL
    );
    CREATE TABLE linkage_runs (
        run_id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        start_time_us        BIGINT NOT NULL,
        end_time_us          BIGINT NOT NULL,
        record_count         BIGINT NOT NULL,
        candidate_pair_count BIGINT NOT NULL,
        link_count           BIGINT NOT NULL,
        changed_link_count   BIGINT NOT NULL,
        threshold            DOUBLE PRECISION NOT NULL,
        reason               TEXT NOT NULL,
        model                TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        sequence      BIGINT PRIMARY KEY,
        entry_time_us BIGINT NOT NULL,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        target_ids    TEXT[] NOT NULL,
        details       TEXT NOT NULL,
        prev_hash     BYTEA NOT NULL,
        entry_hash    BYTEA NOT NULL
    );
    CREATE TABLE disclosures (
        disclosure_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        agency_id        TEXT COLLATE "C" NOT NULL,
        record_key       BYTEA NOT NULL,
        link_id          BIGINT NOT NULL,
        recipient        TEXT NOT NULL,
        recipient_agency TEXT NOT NULL,
        purpose          TEXT NOT NULL,
        disclose_time_us BIGINT NOT NULL,
        audit_sequence   BIGINT NOT NULL
    );
    CREATE INDEX disclosures_by_agency ON disclosures(agency_id, disclosure_id);
    """,
    """
    CREATE TABLE index_changes (
        sequence BIGINT PRIMARY KEY,
        node_id  BIGINT NOT NULL,
        added    BOOLEAN NOT NULL
    );
    """,
    # 3: programme events of records (docs/outcomes.md) and the privacy-budget ledger
    """
    CREATE TABLE record_events (
        node_id     BIGINT NOT NULL,
        code        TEXT NOT NULL,
        day         INTEGER NOT NULL,
        disposition TEXT NOT NULL
    );
    CREATE INDEX record_events_by_node ON record_events(node_id);
    CREATE TABLE outcome_releases (
        release_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        programme      TEXT COLLATE "C" NOT NULL,
        query_digest   BYTEA NOT NULL,
        epsilon        DOUBLE PRECISION NOT NULL,
        create_time_us BIGINT NOT NULL,
        actor          TEXT NOT NULL,
        audit_sequence BIGINT NOT NULL,
        content        BYTEA NOT NULL
    );
    CREATE INDEX outcome_releases_by_query
        ON outcome_releases(programme, query_digest, release_id);
    """,
    # 4: key-epoch rotation (linkage.store._epochs, docs/key-rotation.md)
    """
    CREATE TABLE key_rotation (
        singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
        current_epoch  BIGINT NOT NULL,
        next_epoch     BIGINT,
        update_time_us BIGINT NOT NULL
    );
    CREATE TABLE next_epoch_records (
        node_id        BIGINT PRIMARY KEY REFERENCES records(node_id) ON DELETE CASCADE,
        key_epoch      BIGINT NOT NULL,
        clk            BYTEA NOT NULL,
        pointer_token  BYTEA NOT NULL,
        content_digest BYTEA NOT NULL
    );
    """,
    # 5: contact-card changes the agency has yet to confirm (linkage.store._card_proposals)
    """
    CREATE TABLE contact_card_proposals (
        agency_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES agencies(agency_id),
        display_name    TEXT NOT NULL,
        contact_card    BYTEA NOT NULL,
        proposed_by     TEXT NOT NULL,
        propose_time_us BIGINT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
