-- Reads of the summary by the API: pages sorted by name then SIRET walk this index (keyset
-- pagination), and the time series joins PV rows to the filtered summaries by SIRET
-- (elections_pv_siret serves it).
CREATE INDEX elections_summary_search_siret ON elections_summary (search_text, siret);
