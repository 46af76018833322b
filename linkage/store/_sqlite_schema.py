"""The SQLite schema of the link index, as versioned migrations.

The logical schema both engines share; :mod:`linkage.store._pg_schema` is its
PostgreSQL spelling. :func:`linkage.store._migrate.migrate` applies them.

Each migration moves the schema from version i to i + 1. Never edit a
published migration; append a new one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE agencies (
        agency_id      TEXT PRIMARY KEY,
        agency_no      INTEGER NOT NULL UNIQUE,
        display_name   TEXT NOT NULL,
        contact_card   BLOB NOT NULL,
        create_time_us INTEGER NOT NULL,
        update_time_us INTEGER NOT NULL
    );
    CREATE TABLE links (
        link_id        INTEGER PRIMARY KEY AUTOINCREMENT,
        create_time_us INTEGER NOT NULL,
        update_time_us INTEGER NOT NULL
    );
    CREATE TABLE records (
        node_id            INTEGER PRIMARY KEY AUTOINCREMENT,
        agency_id          TEXT NOT NULL REFERENCES agencies(agency_id),
        record_key         BLOB NOT NULL,
        key_epoch          INTEGER NOT NULL,
        schema_fingerprint TEXT NOT NULL,
        clk                BLOB NOT NULL,
        pointer_token      BLOB NOT NULL,
        consent            BLOB NOT NULL,
        linkable           INTEGER NOT NULL,
        content_digest     BLOB NOT NULL,
        link_id            INTEGER REFERENCES links(link_id),
        update_time_us     INTEGER NOT NULL,
        UNIQUE (agency_id, record_key)
    );
    CREATE INDEX records_by_link ON records(link_id);
    CREATE INDEX records_by_space ON records(key_epoch, schema_fingerprint, node_id);
    CREATE TABLE edges (
        node_a INTEGER NOT NULL,
        node_b INTEGER NOT NULL,
        score  REAL NOT NULL,
        PRIMARY KEY (node_a, node_b)
    ) WITHOUT ROWID;
    CREATE INDEX edges_by_b ON edges(node_b);
    CREATE TABLE batches (
        agency_id      TEXT NOT NULL REFERENCES agencies(agency_id),
        batch_id       TEXT NOT NULL,
        request_digest BLOB NOT NULL,
        response       BLOB NOT NULL,
        commit_time_us INTEGER NOT NULL,
        PRIMARY KEY (agency_id, batch_id)
    );
    CREATE INDEX batches_by_time ON batches(agency_id, commit_time_us);
    CREATE TABLE events (
        sequence      INTEGER PRIMARY KEY AUTOINCREMENT,
        event_time_us INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        agency_id     TEXT,
        batch_id      TEXT,
        source_links  TEXT NOT NULL,
        target_links  TEXT NOT NULL,
        record_count  INTEGER NOT NULL
    );
    CREATE TABLE linkage_runs (
        run_id               INTEGER PRIMARY KEY AUTOINCREMENT,
        start_time_us        INTEGER NOT NULL,
        end_time_us          INTEGER NOT NULL,
        record_count         INTEGER NOT NULL,
        candidate_pair_count INTEGER NOT NULL,
        link_count           INTEGER NOT NULL,
        changed_link_count   INTEGER NOT NULL,
        threshold            REAL NOT NULL,
        reason               TEXT NOT NULL,
        model                TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        sequence      INTEGER PRIMARY KEY,
        entry_time_us INTEGER NOT NULL,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        target_ids    TEXT NOT NULL,
        details       TEXT NOT NULL,
        prev_hash     BLOB NOT NULL,
        entry_hash    BLOB NOT NULL
    );
    CREATE TABLE disclosures (
        disclosure_id    INTEGER PRIMARY KEY AUTOINCREMENT,
        agency_id        TEXT NOT NULL,
        record_key       BLOB NOT NULL,
        link_id          INTEGER NOT NULL,
        recipient        TEXT NOT NULL,
        recipient_agency TEXT NOT NULL,
        purpose          TEXT NOT NULL,
        disclose_time_us INTEGER NOT NULL,
        audit_sequence   INTEGER NOT NULL
    );
    CREATE INDEX disclosures_by_agency ON disclosures(agency_id, disclosure_id);
    """,
    """
    CREATE TABLE index_changes (
        sequence INTEGER PRIMARY KEY,
        node_id  INTEGER NOT NULL,
        added    INTEGER NOT NULL
    );
    """,
    # 3: programme events of records (docs/outcomes.md) and the privacy-budget ledger
    """
    CREATE TABLE record_events (
        node_id     INTEGER NOT NULL,
        code        TEXT NOT NULL,
        day         INTEGER NOT NULL,
        disposition TEXT NOT NULL
    );
    CREATE INDEX record_events_by_node ON record_events(node_id);
    CREATE TABLE outcome_releases (
        release_id     INTEGER PRIMARY KEY AUTOINCREMENT,
        programme      TEXT NOT NULL,
        query_digest   BLOB NOT NULL,
        epsilon        REAL NOT NULL,
        create_time_us INTEGER NOT NULL,
        actor          TEXT NOT NULL,
        audit_sequence INTEGER NOT NULL,
        content        BLOB NOT NULL
    );
    CREATE INDEX outcome_releases_by_query
        ON outcome_releases(programme, query_digest, release_id);
    """,
    # 4: key-epoch rotation (linkage.store._epochs, docs/key-rotation.md)
    """
    CREATE TABLE key_rotation (
        singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
        current_epoch  INTEGER NOT NULL,
        next_epoch     INTEGER,
        update_time_us INTEGER NOT NULL
    );
    CREATE TABLE next_epoch_records (
        node_id        INTEGER PRIMARY KEY REFERENCES records(node_id) ON DELETE CASCADE,
        key_epoch      INTEGER NOT NULL,
        clk            BLOB NOT NULL,
        pointer_token  BLOB NOT NULL,
        content_digest BLOB NOT NULL
    );
    """,
    # 5: contact-card changes the agency has yet to confirm (linkage.store._card_proposals)
    """
    CREATE TABLE contact_card_proposals (
        agency_id       TEXT PRIMARY KEY REFERENCES agencies(agency_id),
        display_name    TEXT NOT NULL,
        contact_card    BLOB NOT NULL,
        proposed_by     TEXT NOT NULL,
        propose_time_us INTEGER NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
