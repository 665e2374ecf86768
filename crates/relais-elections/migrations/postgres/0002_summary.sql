-- The per-SIRET summary (§7 of the domain reference), written by the `elections.build` task:
-- one row per SIRET with a PV row or an invitation, and one row per SIRET and cycle with a PV.
-- Votes and SVE are exact integers of ten-thousandths of a vote; times are microseconds since
-- the Unix epoch. Cycles are configuration: a cycle is a row, never a column.

-- Dirty marks carry a value of this counter, taken in the marking transaction. Its row stays
-- locked until that transaction ends, so values follow commit order: a build that reads the
-- counter (S) knows every mark valued S or less was committed before, and a mark made (or made
-- again) later is valued more, so it survives the build's removal of marks valued S or less.
CREATE TABLE elections_dirty_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO elections_dirty_clock (id, seq) VALUES (1, 0);
ALTER TABLE elections_dirty ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX elections_dirty_seq ON elections_dirty (seq);

CREATE TABLE elections_summary (
    siret                TEXT PRIMARY KEY NOT NULL CHECK (length(siret) = 14),
    raison_sociale       TEXT,                    -- identity: the most recent non-empty values
    ville                TEXT,
    cp                   TEXT,
    departement          TEXT,
    idcc                 TEXT,
    idcc_label           TEXT,
    -- raison_sociale in lower case, without accents, words separated by one space: a prefix
    -- is a range (search_text >= 'abc' AND search_text < 'abd'), bytewise on both backends.
    search_text          TEXT COLLATE "C" NOT NULL,
    date_pv_max          DATE,                    -- the latest PV date, any cycle
    date_invitation_max  DATE,
    prochaine_election   DATE,                    -- date_pv_max + 4 years
    cgt_implantee        BOOLEAN NOT NULL,
    latest_cycle         TEXT,                    -- the latest cycle with a PV
    pap_cycle            TEXT,                    -- the current cycle, which the PAP fields are about
    statut_pap           TEXT,                    -- NULL when no configured cycle is current
    date_pap             DATE,
    date_pv_pap          DATE,
    invitations_a_revoir INTEGER NOT NULL,        -- invitations flagged for review
    valid_until          DATE,                    -- computed again from that day (PAP ageing)
    generation           BIGINT NOT NULL,         -- the full build that last wrote it, or after
    built_at             BIGINT NOT NULL
);
CREATE INDEX elections_summary_statut_pap ON elections_summary (statut_pap, siret);
CREATE INDEX elections_summary_cgt_implantee ON elections_summary (cgt_implantee, siret);
CREATE INDEX elections_summary_departement ON elections_summary (departement, siret);
CREATE INDEX elections_summary_idcc ON elections_summary (idcc, siret);
CREATE INDEX elections_summary_search ON elections_summary (search_text);
CREATE INDEX elections_summary_date_pv_max ON elections_summary (date_pv_max, siret);
CREATE INDEX elections_summary_valid_until ON elections_summary (valid_until)
    WHERE valid_until IS NOT NULL;

-- The latest election of a cycle: every PV row of its date summed (all collèges).
CREATE TABLE elections_summary_cycles (
    siret              TEXT NOT NULL,
    cycle              TEXT NOT NULL,
    election_date      DATE,                      -- NULL when the cycle only has undated rows
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
);
-- Presence in a cycle, and CGT representativeness in a cycle.
CREATE INDEX elections_summary_cycles_cycle
    ON elections_summary_cycles (cycle, cgt_representative, siret);

-- One row: the generation of the latest full build started, and when builds last completed.
CREATE TABLE elections_summary_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    generation    BIGINT NOT NULL,
    built_at      BIGINT,                         -- the latest build (full or incremental)
    full_built_at BIGINT                          -- the latest full build
);
INSERT INTO elections_summary_state (id, generation) VALUES (1, 0);
