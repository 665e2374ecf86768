-- PV rows stored in SIRET order: the summary build reads them a SIRET at a time, and a table
-- in insertion order made every page a search of the whole table (the planner chose a scan
-- and a sort over thousands of random lookups by the SIRET index). A table without rowid,
-- keyed by (siret, row_key), keeps each SIRET's rows together on disk; `row_key` stays unique
-- (the import's natural key). elections_pv_siret is covered by the primary key.
CREATE TABLE elections_pv_by_siret (
    row_key        TEXT NOT NULL,
    pv_number      TEXT,
    siret          TEXT NOT NULL CHECK (length(siret) = 14),
    kind           TEXT NOT NULL CHECK (kind IN ('cse', 'carence')),
    election_date  TEXT,
    cycle          TEXT NOT NULL,
    college        TEXT NOT NULL,
    inscrits       BIGINT NOT NULL,
    votants        BIGINT,
    sve            BIGINT NOT NULL,
    cgt            BIGINT NOT NULL,
    cfdt           BIGINT NOT NULL,
    fo             BIGINT NOT NULL,
    cftc           BIGINT NOT NULL,
    cgc            BIGINT NOT NULL,
    unsa           BIGINT NOT NULL,
    solidaires     BIGINT NOT NULL,
    autre          BIGINT NOT NULL,
    seats_to_fill  INTEGER,
    seats_cgt      INTEGER,
    seats_cfdt     INTEGER,
    seats_fo       INTEGER,
    seats_cftc     INTEGER,
    seats_cgc      INTEGER,
    seats_unsa     INTEGER,
    seats_solidaires INTEGER,
    seats_autre    INTEGER,
    raison_sociale TEXT,
    ville          TEXT,
    cp             TEXT,
    departement    TEXT,
    region         TEXT,
    idcc           TEXT,
    idcc_label     TEXT,
    source_file    TEXT,
    import_id      BLOB NOT NULL,
    PRIMARY KEY (siret, row_key)
) WITHOUT ROWID;
INSERT INTO elections_pv_by_siret SELECT
    row_key, pv_number, siret, kind, election_date, cycle, college, inscrits, votants, sve,
    cgt, cfdt, fo, cftc, cgc, unsa, solidaires, autre, seats_to_fill, seats_cgt, seats_cfdt,
    seats_fo, seats_cftc, seats_cgc, seats_unsa, seats_solidaires, seats_autre, raison_sociale,
    ville, cp, departement, region, idcc, idcc_label, source_file, import_id
FROM elections_pv ORDER BY siret, row_key;
DROP TABLE elections_pv;
ALTER TABLE elections_pv_by_siret RENAME TO elections_pv;
CREATE UNIQUE INDEX elections_pv_row_key ON elections_pv (row_key);
CREATE INDEX elections_pv_cycle ON elections_pv (cycle, import_id);
CREATE INDEX elections_pv_date ON elections_pv (election_date);
CREATE INDEX elections_pv_departement ON elections_pv (departement);
CREATE INDEX elections_pv_idcc ON elections_pv (idcc);

-- The summary tables without rowid: each is one B-tree keyed by SIRET (and cycle), not a
-- table and a key index, which halves what a build writes per row. The index on
-- cgt_implantee goes: half the SIRETs have one value, so a filter on it reads the table in
-- SIRET order as fast as through the index.
CREATE TABLE elections_summary_next (
    siret                TEXT PRIMARY KEY NOT NULL CHECK (length(siret) = 14),
    raison_sociale       TEXT,                    -- identity: the most recent non-empty values
    ville                TEXT,
    cp                   TEXT,
    departement          TEXT,
    idcc                 TEXT,
    idcc_label           TEXT,
    -- raison_sociale in lower case, without accents, words separated by one space: a prefix
    -- is a range (search_text >= 'abc' AND search_text < 'abd'), bytewise on both backends.
    search_text          TEXT NOT NULL,
    date_pv_max          TEXT,                    -- the latest PV date, any cycle
    date_invitation_max  TEXT,
    prochaine_election   TEXT,                    -- date_pv_max + 4 years
    cgt_implantee        BOOLEAN NOT NULL,
    latest_cycle         TEXT,                    -- the latest cycle with a PV
    pap_cycle            TEXT,                    -- the current cycle, which the PAP fields are about
    statut_pap           TEXT,                    -- NULL when no configured cycle is current
    date_pap             TEXT,
    date_pv_pap          TEXT,
    invitations_a_revoir INTEGER NOT NULL,        -- invitations flagged for review
    valid_until          TEXT,                    -- computed again from that day (PAP ageing)
    generation           BIGINT NOT NULL,         -- the full build that last wrote it, or after
    built_at             BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO elections_summary_next SELECT * FROM elections_summary;
DROP TABLE elections_summary;
ALTER TABLE elections_summary_next RENAME TO elections_summary;
CREATE INDEX elections_summary_statut_pap ON elections_summary (statut_pap, siret);
CREATE INDEX elections_summary_departement ON elections_summary (departement, siret);
CREATE INDEX elections_summary_idcc ON elections_summary (idcc, siret);
CREATE INDEX elections_summary_date_pv_max ON elections_summary (date_pv_max, siret);
CREATE INDEX elections_summary_valid_until ON elections_summary (valid_until)
    WHERE valid_until IS NOT NULL;
CREATE INDEX elections_summary_search_siret ON elections_summary (search_text, siret);

CREATE TABLE elections_summary_cycles_next (
    siret              TEXT NOT NULL,
    cycle              TEXT NOT NULL,
    election_date      TEXT,                      -- NULL when the cycle only has undated rows
    carence            BOOLEAN NOT NULL,
    pv_rows            INTEGER NOT NULL,
    carence_rows       INTEGER NOT NULL,
    inscrits           BIGINT NOT NULL,
    votants            BIGINT NOT NULL,
    votants_missing    INTEGER NOT NULL,
    sve                BIGINT NOT NULL,           -- ten-thousandths
    cgt                BIGINT NOT NULL,           -- ten-thousandths
    cfdt               BIGINT NOT NULL,
    fo                 BIGINT NOT NULL,
    cftc               BIGINT NOT NULL,
    cgc                BIGINT NOT NULL,
    unsa               BIGINT NOT NULL,
    solidaires         BIGINT NOT NULL,
    autre              BIGINT NOT NULL,
    cgt_presente       BOOLEAN NOT NULL,
    cgt_representative BOOLEAN NOT NULL,
    seats_cgt          INTEGER NOT NULL,          -- seats won
    seats_cfdt         INTEGER NOT NULL,
    seats_fo           INTEGER NOT NULL,
    seats_cftc         INTEGER NOT NULL,
    seats_cgc          INTEGER NOT NULL,
    seats_unsa         INTEGER NOT NULL,
    seats_solidaires   INTEGER NOT NULL,
    seats_autre        INTEGER NOT NULL,
    seats_to_fill      INTEGER NOT NULL,
    seats_vacant       INTEGER NOT NULL,
    unresolved_ties    INTEGER NOT NULL,
    unresolved_seats   INTEGER NOT NULL,
    seats_estimated    BOOLEAN NOT NULL,
    PRIMARY KEY (siret, cycle)
) WITHOUT ROWID;
INSERT INTO elections_summary_cycles_next SELECT * FROM elections_summary_cycles;
DROP TABLE elections_summary_cycles;
ALTER TABLE elections_summary_cycles_next RENAME TO elections_summary_cycles;
CREATE INDEX elections_summary_cycles_cycle
    ON elections_summary_cycles (cycle, cgt_representative, siret);
