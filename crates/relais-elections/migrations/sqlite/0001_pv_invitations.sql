-- The elections app: PV rows (one per PV × collège), PAP invitations, and the SIRETs whose
-- summary must be computed again.
--
-- Votes and SVE are exact integers of ten-thousandths of a vote (12.5 votes = 125000).
-- `row_key` is the natural key that makes imports idempotent (computed by the import):
--   pv:<PV number>:<collège>                          when the file gives the PV number;
--   s:<siret>:<date or cycle>:<collège>:<kind>:<n>    otherwise, n = 1, 2… the occurrence of
--                                                     that key in its file (two PVs of one
--                                                     SIRET, collège and day stay two rows).
CREATE TABLE elections_pv (
    row_key        TEXT PRIMARY KEY NOT NULL,
    pv_number      TEXT,
    siret          TEXT NOT NULL CHECK (length(siret) = 14),
    kind           TEXT NOT NULL CHECK (kind IN ('cse', 'carence')),
    election_date  TEXT,                       -- ISO date; NULL when the file gives none
    cycle          TEXT NOT NULL,              -- C4: from the date, else from the import
    college        TEXT NOT NULL,              -- 01 … 05, other codes as written, '' if none
    inscrits       BIGINT NOT NULL,
    votants        BIGINT,                     -- NULL when the file leaves it empty
    sve            BIGINT NOT NULL,            -- ten-thousandths
    cgt            BIGINT NOT NULL,            -- ten-thousandths
    cfdt           BIGINT NOT NULL,
    fo             BIGINT NOT NULL,
    cftc           BIGINT NOT NULL,
    cgc            BIGINT NOT NULL,
    unsa           BIGINT NOT NULL,
    solidaires     BIGINT NOT NULL,
    autre          BIGINT NOT NULL,
    seats_to_fill  INTEGER,                    -- when the PV gives it
    seats_cgt      INTEGER,                    -- seats won, when the PV gives them
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
    import_id      BLOB NOT NULL               -- the import that last wrote the row
);
CREATE INDEX elections_pv_siret ON elections_pv (siret, election_date);
CREATE INDEX elections_pv_cycle ON elections_pv (cycle, import_id);
CREATE INDEX elections_pv_date ON elections_pv (election_date);
CREATE INDEX elections_pv_departement ON elections_pv (departement);
CREATE INDEX elections_pv_idcc ON elections_pv (idcc);

-- Invitations to negotiate the pre-election protocol (PAP), one per SIRET and date.
CREATE TABLE elections_invitations (
    siret           TEXT NOT NULL CHECK (length(siret) = 14),
    invitation_date TEXT NOT NULL,             -- ISO date
    raison_sociale  TEXT,
    enseigne        TEXT,
    adresse         TEXT,
    ville           TEXT,
    code_postal     TEXT,
    source          TEXT,
    naf             TEXT,                      -- activité principale (NAF code)
    naf_label       TEXT,
    effectifs       TEXT,
    actif           BOOLEAN,
    siege           BOOLEAN,
    import_id       BLOB NOT NULL,
    PRIMARY KEY (siret, invitation_date)
);
CREATE INDEX elections_invitations_date ON elections_invitations (invitation_date);

-- SIRETs whose PV rows or invitations changed since the summary last took them (written in
-- the transaction of the change; a summary build removes what it has taken).
CREATE TABLE elections_dirty (
    siret TEXT PRIMARY KEY NOT NULL
);
