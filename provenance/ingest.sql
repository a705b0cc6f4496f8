-- The bookkeeping of one ingest (provenance/ingest.py): which source it is, what it read last
-- time (its watermarks), and what it loaded (ingest_runs). canonicalize.sql turns the staged
-- rows into canonical ones.

-- name: source_row
SELECT source_id, convention, mapping_hash FROM sources WHERE location = $location

-- name: next_source_id
SELECT coalesce(max(source_id), 0) + 1 FROM sources

-- name: watermarks
SELECT source_table, max_id, max_update_ms FROM watermarks WHERE source_id = $sid

-- name: context_types
-- The context type names the convention is detected from: staged and already loaded.
SELECT name FROM stg_types WHERE kind = 'CONTEXT'
UNION SELECT DISTINCT type_name FROM contexts

-- name: save_source
DELETE FROM sources WHERE source_id = $sid;
INSERT INTO sources VALUES
    ($sid, $kind, $location, $convention, $mapping_hash, $cost_property, $deploy_rule);
INSERT INTO source_ids SELECT $sid, space, external_id, id FROM stg_id_map

-- name: save_watermark
INSERT OR REPLACE INTO watermarks VALUES ($sid, $source_table, $max_id, $max_update_ms)

-- name: record_run
INSERT INTO ingest_runs
SELECT coalesce(max(ingest_id), 0) + 1, $sid, $started, $finished, $rows_read, $report
FROM ingest_runs
