-- Inputs of the pruning simulation (analysis/pruning/features.py, analysis/pruning/data.py).
--
-- Everything here is read per graphlet or per pipeline in one pass; the time ordering that keeps
-- features honest (only what is known at the decision point) is applied in pandas afterwards.
-- The decision point of a graphlet is its train_time (the trainer's start).

-- name: decisions
-- One row per graphlet: when its decision is taken and, for scoring only, what happened. An
-- outcome becomes known when the push happens, or, for a graphlet that did not push, when its
-- last member execution ended (an abandoned one: when it went stale); an in-flight graphlet's
-- outcome is never known. In flight and abandoned as of $as_of (analysis/frames.sql, macros).
SELECT g.source_id, g.graphlet_id, coalesce(g.pipeline_id, -1) AS pipeline_id,
       p.name AS pipeline, g.trainer_execution_id, coalesce(g.model_type, 'unknown') AS model_type, g.train_time,
       g.deployed, l.in_flight, g.push_time, g.end_time,
       CASE WHEN l.in_flight THEN NULL
            WHEN g.deployed THEN coalesce(g.push_time, g.end_time)
            WHEN l.abandoned THEN greatest(g.end_time, l.cutoff)
            ELSE g.end_time END AS known_time,
       g.input_spans, g.span_overlap, g.cost_unit
FROM graphlets g
JOIN graphlet_liveness($as_of, $stale_after_s) l USING (source_id, graphlet_id)
LEFT JOIN pipelines p ON p.source_id = g.source_id AND p.pipeline_id = g.pipeline_id
WHERE g.train_time IS NOT NULL
ORDER BY g.source_id, pipeline_id, g.train_time, g.graphlet_id;

-- name: windows
-- The training window of each graphlet: the spans of the Examples the trainer reads, seen
-- through the Transform that produced them when there is one. (A graphlet's input_spans also
-- hold spans reached through other upstream work, e.g. a Tuner that ran on an older window.)
WITH trainer_examples AS (
    SELECT g.source_id, g.graphlet_id, e.artifact_id
    FROM graphlets g
    JOIN events e ON e.source_id = g.source_id AND e.execution_id = g.trainer_execution_id
    JOIN artifacts a ON a.source_id = e.source_id AND a.artifact_id = e.artifact_id
    WHERE e.direction = 'input' AND a.type_name = 'Examples'
),
transformed AS (
    SELECT DISTINCT t.source_id, t.graphlet_id, t.artifact_id, i.artifact_id AS raw_id
    FROM trainer_examples t
    JOIN events o ON o.source_id = t.source_id AND o.artifact_id = t.artifact_id
                 AND o.type = 'OUTPUT'
    JOIN executions x ON x.source_id = o.source_id AND x.execution_id = o.execution_id
    JOIN events i ON i.source_id = x.source_id AND i.execution_id = x.execution_id
                 AND i.direction = 'input'
    JOIN artifacts r ON r.source_id = i.source_id AND r.artifact_id = i.artifact_id
    WHERE x.category = 'transform' AND r.type_name = 'Examples'
),
window_examples AS (
    SELECT source_id, graphlet_id, raw_id AS artifact_id FROM transformed
    UNION
    SELECT t.source_id, t.graphlet_id, t.artifact_id
    FROM trainer_examples t
    WHERE NOT EXISTS (SELECT 1 FROM transformed f WHERE f.source_id = t.source_id
                      AND f.graphlet_id = t.graphlet_id AND f.artifact_id = t.artifact_id)
)
SELECT w.source_id, w.graphlet_id, list_sort(list(DISTINCT a.span)) AS window_spans
FROM window_examples w
JOIN artifacts a ON a.source_id = w.source_id AND a.artifact_id = w.artifact_id
WHERE a.span IS NOT NULL
GROUP BY w.source_id, w.graphlet_id;

-- name: statistics
-- Numeric summaries of statistics artifacts per pipeline and span, with the time they became
-- available: from the payload when it was read (per numeric feature of the train split, else
-- the first split: <feature>_mean, <feature>_std, and num_examples), else from the artifact's
-- numeric properties (custom properties such as feature_0_mean, num_examples).
WITH produced AS (
    SELECT DISTINCT x.source_id, coalesce(x.pipeline_id, -1) AS pipeline_id, a.artifact_id,
           a.span, coalesce(x.end_time, a.create_time) AS available_time
    FROM artifacts a
    JOIN events o ON o.source_id = a.source_id AND o.artifact_id = a.artifact_id
                 AND o.type = 'OUTPUT'
    JOIN executions x ON x.source_id = o.source_id AND x.execution_id = o.execution_id
    WHERE a.type_name = 'ExampleStatistics' AND a.span IS NOT NULL AND x.state = 'COMPLETE'
),
chosen AS (
    SELECT source_id, artifact_id,
           CASE WHEN bool_or(split = 'train') THEN 'train' ELSE min(split) END AS split
    FROM feature_stats
    GROUP BY source_id, artifact_id
),
payload AS (
    SELECT s.source_id, s.artifact_id, v.name, v.value
    FROM feature_stats s
    JOIN chosen c ON c.source_id = s.source_id AND c.artifact_id = s.artifact_id
                 AND c.split = s.split,
    LATERAL (VALUES (s.feature || '_mean', s.mean), (s.feature || '_std', s.std)) v(name, value)
    WHERE s.mean IS NOT NULL
    UNION
    SELECT s.source_id, s.artifact_id, 'num_examples', max(s.num_examples)::DOUBLE
    FROM feature_stats s
    JOIN chosen c ON c.source_id = s.source_id AND c.artifact_id = s.artifact_id
                 AND c.split = s.split
    GROUP BY s.source_id, s.artifact_id
),
properties AS (
    SELECT p.source_id, p.artifact_id, p.name,
           coalesce(p.double_value, CAST(p.int_value AS DOUBLE)) AS value
    FROM artifact_properties p
    WHERE p.name NOT IN ('span', 'version')
      AND coalesce(p.double_value, CAST(p.int_value AS DOUBLE)) IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM chosen c WHERE c.source_id = p.source_id
                      AND c.artifact_id = p.artifact_id)
)
SELECT d.source_id, d.pipeline_id, d.artifact_id, d.span, d.available_time, v.name, v.value
FROM produced d
JOIN (SELECT * FROM payload UNION ALL SELECT * FROM properties) v
  ON v.source_id = d.source_id AND v.artifact_id = d.artifact_id
WHERE v.value IS NOT NULL;

-- name: schema_payloads
-- The features of the schemas each graphlet's trainer read, from their payloads.
SELECT g.source_id, g.graphlet_id, list_sort(list(DISTINCT s.fingerprint)) AS fingerprints,
       list_sort(list(DISTINCT f.feature || ':' || f.type)) AS typed_features
FROM graphlets g
JOIN events e ON e.source_id = g.source_id AND e.execution_id = g.trainer_execution_id
     AND e.direction = 'input'
JOIN schemas s ON s.source_id = e.source_id AND s.artifact_id = e.artifact_id
LEFT JOIN schema_features f ON f.source_id = s.source_id AND f.artifact_id = s.artifact_id
GROUP BY g.source_id, g.graphlet_id;

-- name: anomalies
-- Validation anomalies in each graphlet's data (upstream and side members, finished before the
-- decision): artifacts whose payload (ExampleValidator's SchemaDiff.pb) lists an anomaly, or
-- that carry a positive numeric property named like '%anomal%'; and the distinct features the
-- payloads flag. has_counts is false when the store records neither (the count is unknown).
WITH read_payloads AS (
    SELECT DISTINCT source_id, artifact_id FROM payload_reads
    WHERE kind = 'anomalies' AND status = 'read'
),
counted AS (
    SELECT DISTINCT source_id, artifact_id FROM artifact_properties
    WHERE lower(name) LIKE '%anomal%'
      AND coalesce(double_value, CAST(int_value AS DOUBLE)) IS NOT NULL
    UNION
    SELECT source_id, artifact_id FROM read_payloads
),
positive AS (
    SELECT DISTINCT source_id, artifact_id FROM artifact_properties
    WHERE lower(name) LIKE '%anomal%'
      AND coalesce(double_value, CAST(int_value AS DOUBLE)) > 0
    UNION
    SELECT DISTINCT source_id, artifact_id FROM data_anomalies
)
SELECT g.source_id, g.graphlet_id,
       count(DISTINCT p.artifact_id) AS anomalies,
       count(DISTINCT d.feature) AS anomalous_features,
       (SELECT count(*) FROM counted) > 0 AS has_counts,
       (SELECT count(*) FROM read_payloads) > 0 AS has_payloads
FROM graphlets g
LEFT JOIN graphlet_members m ON m.source_id = g.source_id AND m.graphlet_id = g.graphlet_id
     AND m.node_kind = 'artifact' AND m.role IN ('upstream', 'side')
LEFT JOIN artifacts a ON a.source_id = m.source_id AND a.artifact_id = m.node_id
     AND a.create_time <= g.train_time
LEFT JOIN positive p ON p.source_id = a.source_id AND p.artifact_id = a.artifact_id
LEFT JOIN data_anomalies d ON d.source_id = a.source_id AND d.artifact_id = a.artifact_id
GROUP BY g.source_id, g.graphlet_id;

-- name: validation_failures
-- Failed data-validation executions, for "failures since the previous decision".
SELECT source_id, coalesce(pipeline_id, -1) AS pipeline_id, coalesce(end_time, start_time) AS time
FROM executions
WHERE category = 'data_validation' AND state = 'FAILED'
  AND coalesce(end_time, start_time) IS NOT NULL;

-- name: fingerprints
-- What each graphlet's configuration looked like at its decision point, as hashes compared with
-- the previous graphlet's: the trainer's properties (the cost property and per-run bookkeeping
-- excluded), the Transform that fed it, the schema it read, and the shape of its upstream.
WITH excluded AS (
    SELECT source_id, coalesce(cost_property, '') AS cost_property FROM sources
),
-- the executions whose configuration is compared: trainers and Transforms
configured AS (
    SELECT source_id, trainer_execution_id AS execution_id FROM graphlets
    UNION
    SELECT source_id, execution_id FROM executions WHERE category = 'transform'
),
props AS (
    SELECT p.source_id, p.execution_id,
           string_agg(p.name || '=' || coalesce(p.string_value, CAST(p.int_value AS VARCHAR),
                                                CAST(p.double_value AS VARCHAR),
                                                CAST(p.bool_value AS VARCHAR), ''),
                      '|' ORDER BY p.name, p.is_custom) AS body
    FROM execution_properties p
    SEMI JOIN configured c ON c.source_id = p.source_id AND c.execution_id = p.execution_id
    JOIN excluded s ON s.source_id = p.source_id
    WHERE p.name <> s.cost_property
      AND p.name NOT IN ('span', 'input_fingerprint', 'pipeline_run_id', 'run_id', 'pod_name',
                         'cached_execution_id', 'parent_dag_id', 'display_name')
    GROUP BY p.source_id, p.execution_id
),
trainer_inputs AS (
    SELECT g.source_id, g.graphlet_id, e.artifact_id, e.key, a.type_name, a.uri
    FROM graphlets g
    JOIN events e ON e.source_id = g.source_id AND e.execution_id = g.trainer_execution_id
    JOIN artifacts a ON a.source_id = e.source_id AND a.artifact_id = e.artifact_id
    WHERE e.direction = 'input'
),
-- the executions that produced each trainer input
input_producers AS (
    SELECT t.source_id, t.graphlet_id, t.artifact_id, t.type_name, t.uri, x.execution_id,
           x.type_name AS producer_type, x.category, x.component
    FROM trainer_inputs t
    JOIN events o ON o.source_id = t.source_id AND o.artifact_id = t.artifact_id
                 AND o.type = 'OUTPUT'
    JOIN executions x ON x.source_id = o.source_id AND x.execution_id = o.execution_id
),
transform AS (
    SELECT t.source_id, t.graphlet_id,
           md5(array_to_string(list_sort(list(DISTINCT coalesce(pr.body, t.producer_type))),
                               '#')) AS transform_hash
    FROM input_producers t
    LEFT JOIN props pr ON pr.source_id = t.source_id AND pr.execution_id = t.execution_id
    WHERE t.category = 'transform'
    GROUP BY t.source_id, t.graphlet_id
),
schema_props AS (
    SELECT source_id, artifact_id,
           string_agg(name || '=' || coalesce(string_value, CAST(int_value AS VARCHAR),
                                              CAST(double_value AS VARCHAR), ''),
                      '|' ORDER BY name) AS body
    FROM artifact_properties p
    SEMI JOIN trainer_inputs t ON t.source_id = p.source_id AND t.artifact_id = p.artifact_id
                              AND t.type_name = 'Schema'
    WHERE name NOT IN ('span', 'version', 'split_names', 'tfx_version', 'is_external')
    GROUP BY source_id, artifact_id
),
-- A schema SchemaGen infers anew per span records nothing about its content; an imported one
-- (ImportSchemaGen, Importer) changes exactly when a new file is imported.
schema AS (
    SELECT t.source_id, t.graphlet_id,
           md5(array_to_string(list_sort(list(DISTINCT
               t.component || ':' || coalesce(sp.body, '')
               || CASE WHEN t.component IN ('ImportSchemaGen', 'Importer')
                       THEN ':' || coalesce(t.uri, '') ELSE '' END)), '#')) AS schema_hash
    FROM input_producers t
    LEFT JOIN schema_props sp ON sp.source_id = t.source_id AND sp.artifact_id = t.artifact_id
    WHERE t.type_name = 'Schema'
    GROUP BY t.source_id, t.graphlet_id
),
shape AS (
    SELECT m.source_id, m.graphlet_id,
           string_agg(DISTINCT x.component, ',' ORDER BY x.component) AS upstream_components
    FROM graphlet_members m
    JOIN executions x ON x.source_id = m.source_id AND x.execution_id = m.node_id
    WHERE m.node_kind = 'execution' AND m.role IN ('upstream', 'anchor')
    GROUP BY m.source_id, m.graphlet_id
),
keys AS (
    SELECT source_id, graphlet_id,
           string_agg(DISTINCT coalesce(key, type_name), ',' ORDER BY coalesce(key, type_name))
               AS input_keys
    FROM trainer_inputs
    GROUP BY source_id, graphlet_id
)
SELECT g.source_id, g.graphlet_id,
       md5(coalesce(pr.body, '')) AS config_hash,
       tr.transform_hash,
       sc.schema_hash,
       md5(coalesce(sh.upstream_components, '') || '|' || coalesce(k.input_keys, ''))
           AS structure_hash
FROM graphlets g
LEFT JOIN props pr ON pr.source_id = g.source_id AND pr.execution_id = g.trainer_execution_id
LEFT JOIN transform tr ON tr.source_id = g.source_id AND tr.graphlet_id = g.graphlet_id
LEFT JOIN schema sc ON sc.source_id = g.source_id AND sc.graphlet_id = g.graphlet_id
LEFT JOIN shape sh ON sh.source_id = g.source_id AND sh.graphlet_id = g.graphlet_id
LEFT JOIN keys k ON k.source_id = g.source_id AND k.graphlet_id = g.graphlet_id;

-- name: members
-- Execution memberships: skipping a graphlet saves its anchor and downstream executions (the
-- upstream has already run when the decision is taken).
SELECT source_id, graphlet_id, node_id AS execution_id,
       role IN ('anchor', 'downstream') AS after_decision
FROM graphlet_members
WHERE node_kind = 'execution'
ORDER BY source_id, graphlet_id, execution_id;

-- name: executions
-- Every execution's cost, when it started, and whether it is waste as the report counts it
-- (analysis/frames.sql, execution_status): members of in-flight graphlets are not waste yet.
SELECT c.source_id, c.execution_id, c.cost, c.cost_unit, x.start_time,
       s.status IN ('unpushed', 'orphan', 'abandoned') AS wasted
FROM execution_costs c
JOIN executions x ON x.source_id = c.source_id AND x.execution_id = c.execution_id
JOIN execution_status($as_of, $stale_after_s) s
    ON s.source_id = c.source_id AND s.execution_id = c.execution_id
ORDER BY c.source_id, c.execution_id;
