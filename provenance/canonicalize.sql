-- Staging -> canonical tables. Every reader fills the same staging tables (see
-- provenance/readers.py: canonical states, event types and node kinds, integer ids); ingest
-- checks them (provenance/checks.py), then these statements turn them into canonical
-- rows. Node tables (contexts, artifacts, executions) and their properties are upserted:
-- staging holds every new or changed node with all its properties. Edge tables are appended
-- with an anti-join, so a reader may stage edges it has already delivered; within one batch
-- they are unique, as MLMD's own unique keys make them.
-- Parameters: $sid (source id); $pipeline_types, $run_types, $node_types (context type names);
-- $component_property (execution property naming the component, or NULL); $cost_property.

-- name: upsert_contexts
DELETE FROM contexts WHERE source_id = $sid AND context_id IN (SELECT id FROM stg_contexts);
DELETE FROM context_properties
WHERE source_id = $sid AND context_id IN (SELECT id FROM stg_contexts);
INSERT INTO contexts
SELECT $sid, c.id, t.name, c.name,
       CASE WHEN c.create_ms > 0 THEN epoch_ms(c.create_ms) END,
       CASE WHEN c.update_ms > 0 THEN epoch_ms(c.update_ms) END
FROM stg_contexts c JOIN stg_types t ON t.id = c.type_id;
INSERT INTO context_properties
SELECT $sid, owner_id, name, is_custom, int_value, double_value, string_value, bool_value
FROM stg_context_props;

-- name: append_edges
INSERT INTO context_parents
SELECT DISTINCT $sid, s.context_id, s.parent_context_id FROM stg_parent_contexts s
WHERE NOT EXISTS (SELECT 1 FROM context_parents p WHERE p.source_id = $sid
                  AND p.context_id = s.context_id AND p.parent_context_id = s.parent_context_id);
INSERT INTO context_executions
SELECT $sid, s.context_id, s.execution_id FROM stg_associations s
WHERE NOT EXISTS (SELECT 1 FROM context_executions p WHERE p.source_id = $sid
                  AND p.context_id = s.context_id AND p.execution_id = s.execution_id);
INSERT INTO context_artifacts
SELECT $sid, s.context_id, s.artifact_id FROM stg_attributions s
WHERE NOT EXISTS (SELECT 1 FROM context_artifacts p WHERE p.source_id = $sid
                  AND p.context_id = s.context_id AND p.artifact_id = s.artifact_id);

-- name: upsert_artifacts
DELETE FROM artifacts WHERE source_id = $sid AND artifact_id IN (SELECT id FROM stg_artifacts);
DELETE FROM artifact_properties
WHERE source_id = $sid AND artifact_id IN (SELECT id FROM stg_artifacts);
INSERT INTO artifacts
SELECT $sid, a.id, t.name, NULLIF(a.uri, ''),
       coalesce(a.state, 'UNKNOWN'),
       NULLIF(a.name, ''),
       CASE WHEN a.create_ms > 0 THEN epoch_ms(a.create_ms) END,
       CASE WHEN a.update_ms > 0 THEN epoch_ms(a.update_ms) END,
       p.span, p.version
FROM stg_artifacts a
JOIN stg_types t ON t.id = a.type_id
LEFT JOIN (
    -- a declared property wins over a custom one of the same name
    SELECT owner_id,
           arg_min(int_value, is_custom) FILTER (WHERE name = 'span') AS span,
           arg_min(int_value, is_custom) FILTER (WHERE name = 'version') AS version
    FROM stg_artifact_props WHERE name IN ('span', 'version') AND int_value IS NOT NULL
    GROUP BY owner_id
) p ON p.owner_id = a.id;
INSERT INTO artifact_properties
SELECT $sid, owner_id, name, is_custom, int_value, double_value, string_value, bool_value
FROM stg_artifact_props;

-- name: affected_executions
-- Executions whose canonical row this batch may change: staged, or newly associated.
CREATE OR REPLACE TEMP TABLE stg_affected AS
SELECT id FROM stg_executions UNION SELECT execution_id FROM stg_associations

-- name: execution_contexts
-- Pipeline, run and node of each execution in stg_affected(id), from the canonical
-- contexts and associations (already updated by this batch).
CREATE OR REPLACE TEMP TABLE stg_execution_contexts AS
WITH assoc AS (
    SELECT ce.execution_id, c.context_id, c.type_name, c.name
    FROM context_executions ce
    JOIN contexts c ON c.source_id = ce.source_id AND c.context_id = ce.context_id
    WHERE ce.source_id = $sid AND ce.execution_id IN (SELECT id FROM stg_affected)
),
per_execution AS (
    SELECT execution_id,
           min(context_id) FILTER (WHERE list_contains($pipeline_types, type_name)) AS pipeline_id,
           min(context_id) FILTER (WHERE list_contains($run_types, type_name)) AS run_id,
           min(name) FILTER (WHERE list_contains($node_types, type_name)) AS node_context
    FROM assoc GROUP BY execution_id
),
run_parent AS (  -- runs filed under their pipeline (Kubeflow associates executions to runs only)
    SELECT cp.context_id AS run_id, min(cp.parent_context_id) AS pipeline_id
    FROM context_parents cp
    JOIN contexts c ON c.source_id = cp.source_id AND c.context_id = cp.parent_context_id
    WHERE cp.source_id = $sid AND list_contains($pipeline_types, c.type_name)
    GROUP BY cp.context_id
)
SELECT pe.execution_id AS id,
       coalesce(pe.pipeline_id, rp.pipeline_id) AS pipeline_id,
       pe.run_id,
       CASE WHEN p.name IS NOT NULL AND starts_with(pe.node_context, p.name || '.')
            THEN pe.node_context[length(p.name) + 2:] ELSE pe.node_context END AS node
FROM per_execution pe
LEFT JOIN run_parent rp ON rp.run_id = pe.run_id
LEFT JOIN contexts p ON p.source_id = $sid AND p.context_id = coalesce(pe.pipeline_id, rp.pipeline_id);

-- name: execution_base
-- Staged executions with their type, component and the properties the canonical row needs.
CREATE OR REPLACE TEMP TABLE stg_execution_base AS
WITH props AS (
    SELECT owner_id,
           any_value(string_value) FILTER (WHERE name = $component_property) AS component,
           -- legacy TFX records the state as a string property
           any_value(lower(string_value)) FILTER (WHERE name = 'state') AS legacy_state,
           any_value(coalesce(double_value, int_value)) FILTER (WHERE name = $cost_property)
               AS cost
    FROM stg_execution_props
    WHERE name IN ($component_property, 'state', $cost_property)
    GROUP BY owner_id
)
SELECT x.*, t.name AS type_name,
       coalesce(NULLIF(p.component, ''), regexp_extract(t.name, '[^.]+$')) AS component,
       p.legacy_state, p.cost
FROM stg_executions x
JOIN stg_types t ON t.id = x.type_id
LEFT JOIN props p ON p.owner_id = x.id;

-- name: execution_components
-- Distinct components of the batch; categories are assigned in Python (provenance.conventions).
SELECT DISTINCT component, type_name FROM stg_execution_base ORDER BY ALL;

-- name: save_categories
-- The categories Python assigned to the batch's components (the registered Arrow table).
CREATE OR REPLACE TEMP TABLE stg_categories AS SELECT * FROM categories

-- name: upsert_executions
DELETE FROM executions
WHERE source_id = $sid AND execution_id IN (SELECT id FROM stg_executions);
DELETE FROM execution_properties
WHERE source_id = $sid AND execution_id IN (SELECT id FROM stg_executions);
INSERT INTO executions
SELECT $sid, b.id, ec.pipeline_id, ec.run_id, b.type_name, b.component,
       coalesce(ec.node, CASE WHEN $component_property IS NOT NULL THEN b.component END),
       cat.category,
       CASE WHEN coalesce(b.state, 'UNKNOWN') = 'UNKNOWN' AND b.legacy_state IS NOT NULL THEN
                CASE b.legacy_state WHEN 'complete' THEN 'COMPLETE' WHEN 'cached' THEN 'CACHED'
                     WHEN 'new' THEN 'NEW' WHEN 'running' THEN 'RUNNING'
                     WHEN 'failed' THEN 'FAILED' WHEN 'canceled' THEN 'CANCELED'
                     ELSE 'UNKNOWN' END
            ELSE coalesce(b.state, 'UNKNOWN')
       END,
       NULLIF(b.name, ''),
       CASE WHEN b.create_ms > 0 THEN epoch_ms(b.create_ms) END,
       CASE WHEN b.update_ms > 0 THEN epoch_ms(b.update_ms) END,
       CASE WHEN b.create_ms > 0 AND b.update_ms >= b.create_ms
            THEN (b.update_ms - b.create_ms) / 1000.0 END,
       b.cost
FROM stg_execution_base b
JOIN stg_categories cat ON cat.component = b.component AND cat.type_name = b.type_name
LEFT JOIN stg_execution_contexts ec ON ec.id = b.id;
INSERT INTO execution_properties
SELECT $sid, owner_id, name, is_custom, int_value, double_value, string_value, bool_value
FROM stg_execution_props;

-- name: refresh_execution_contexts
-- Executions that gained an association without being staged themselves.
UPDATE executions x SET pipeline_id = ec.pipeline_id, run_id = ec.run_id,
                        node = coalesce(ec.node, x.node)
FROM stg_execution_contexts ec
WHERE x.source_id = $sid AND x.execution_id = ec.id
  AND ec.id NOT IN (SELECT id FROM stg_executions);

-- name: append_events
INSERT INTO events
WITH staged AS (
    SELECT execution_id, artifact_id, coalesce(type, 'UNKNOWN') AS type, key, idx, ms
    FROM stg_events
),
known AS (
    SELECT execution_id, artifact_id, type FROM events
    WHERE source_id = $sid AND execution_id IN (SELECT execution_id FROM stg_events)
)
SELECT $sid, s.execution_id, s.artifact_id, s.type,
       CASE WHEN s.type IN ('DECLARED_INPUT', 'INPUT', 'INTERNAL_INPUT') THEN 'input'
            WHEN s.type IN ('DECLARED_OUTPUT', 'OUTPUT', 'INTERNAL_OUTPUT', 'PENDING_OUTPUT')
            THEN 'output' ELSE 'unknown' END,
       NULLIF(s.key, ''), s.idx,
       CASE WHEN s.ms > 0 THEN epoch_ms(s.ms) END
FROM staged s
ANTI JOIN known k USING (execution_id, artifact_id, type);

-- name: refresh_pipelines
DELETE FROM pipelines WHERE source_id = $sid;
INSERT INTO pipelines
SELECT $sid, context_id, name FROM contexts
WHERE source_id = $sid AND list_contains($pipeline_types, type_name);
DELETE FROM pipeline_runs WHERE source_id = $sid;
INSERT INTO pipeline_runs
SELECT $sid, r.context_id,
       coalesce(parent.pipeline_id, via.pipeline_id), r.name, r.create_time
FROM contexts r
LEFT JOIN (
    SELECT cp.context_id, min(cp.parent_context_id) AS pipeline_id
    FROM context_parents cp
    JOIN contexts c ON c.source_id = cp.source_id AND c.context_id = cp.parent_context_id
    WHERE cp.source_id = $sid AND list_contains($pipeline_types, c.type_name)
    GROUP BY cp.context_id
) parent ON parent.context_id = r.context_id
LEFT JOIN (
    SELECT run_id, min(pipeline_id) AS pipeline_id FROM executions
    WHERE source_id = $sid AND run_id IS NOT NULL GROUP BY run_id
) via ON via.run_id = r.context_id
WHERE r.source_id = $sid AND list_contains($run_types, r.type_name);

-- name: drop_batch
DROP TABLE stg_affected;
DROP TABLE stg_execution_contexts;
DROP TABLE stg_execution_base;
DROP TABLE stg_categories
