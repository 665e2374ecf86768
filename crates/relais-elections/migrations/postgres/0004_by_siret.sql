-- The summary build reads PV rows by a sequential scan and a sort (see pv_inputs.rs), so the
-- table keeps its layout here; SQLite's copy of this migration stores them by SIRET.
-- Covered by elections_summary_search_siret (search_text, siret).
DROP INDEX elections_summary_search;
-- Half the SIRETs have one value of cgt_implantee: a filter on it reads the table in SIRET
-- order as fast as through an index, which every build would maintain.
DROP INDEX elections_summary_cgt_implantee;
