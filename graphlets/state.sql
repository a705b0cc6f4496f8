-- What the graphlet tables reflect (graphlets/state.py): the layout of graphlets/schema.sql,
-- the rules and the ingest they were last built from, and each pipeline's last build.

-- name: state
SELECT key, value FROM graphlet_state

-- name: set_state
DELETE FROM graphlet_state WHERE key = $key;
INSERT INTO graphlet_state VALUES ($key, $value)

-- name: latest_ingest
SELECT max(ingest_id) FROM ingest_runs

-- name: ingests_since
SELECT count(*) FROM ingest_runs WHERE ingest_id > $ingest_id

-- name: record_builds
-- What each pipeline built (rebuilt whole or refreshed) now reflects (read back by
-- graphlets/refresh.sql's usable_builds and plan).
DELETE FROM graphlet_builds b
WHERE EXISTS (SELECT 1 FROM (SELECT * FROM gl_full UNION SELECT * FROM gl_part) p
              WHERE p.source_id = b.source_id AND p.pkey = b.pipeline_key);

INSERT INTO graphlet_builds
SELECT p.source_id, p.pkey, $rules_hash,
       hash(s.kind, s.location, s.convention, s.mapping_hash, s.cost_property),
       coalesce(n.n, 0), x.seen, x.max_id, a.seen, a.max_id
FROM (SELECT * FROM gl_full UNION SELECT * FROM gl_part) p
JOIN sources s ON s.source_id = p.source_id
LEFT JOIN (SELECT source_id, coalesce(pipeline_id, -1) AS pkey, count(*) AS n
           FROM executions GROUP BY ALL) n ON n.source_id = p.source_id AND n.pkey = p.pkey
LEFT JOIN (SELECT source_id, max(end_time) AS seen, max(execution_id) AS max_id
           FROM executions GROUP BY ALL) x ON x.source_id = p.source_id
LEFT JOIN (SELECT source_id, max(update_time) AS seen, max(artifact_id) AS max_id
           FROM artifacts GROUP BY ALL) a ON a.source_id = p.source_id;
