-- PostgreSQL's copy of this migration makes codes (SIRETs, keys, cycles, collèges…) compare
-- byte by byte. SQLite's columns already do (BINARY, its default collation): nothing to change.
SELECT 1;
