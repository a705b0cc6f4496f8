-- Named queries that read built graphlets (graphlets/load.py).

-- name: list
SELECT g.graphlet_id, g.source_id, p.name AS pipeline, g.trainer_state, g.model_type,
       g.train_time, g.deployed, g.in_flight, g.reason, g.blessed, g.push_time, g.window_size, g.span_overlap,
       g.n_executions, g.n_artifacts, g.depth, g.own_cost, g.split_cost, g.cost_unit
FROM graphlets g
LEFT JOIN pipelines p ON p.source_id = g.source_id AND p.pipeline_id = g.pipeline_id
WHERE $all_pipelines OR list_contains($pipelines, p.name)
ORDER BY p.name, g.source_id, g.train_time, g.graphlet_id;

-- name: header
SELECT g.*, p.name AS pipeline
FROM graphlets g
LEFT JOIN pipelines p ON p.source_id = g.source_id AND p.pipeline_id = g.pipeline_id
WHERE g.graphlet_id = $graphlet_id AND ($source_id IS NULL OR g.source_id = $source_id)
ORDER BY g.source_id;

-- name: members
-- Members with what a reader needs to recognise them: component and category of executions,
-- type, span, push flag and verdict of artifacts, and each execution's cost.
SELECT m.node_kind, m.node_id, m.role, m.shared_by,
       coalesce(x.component, a.type_name) AS label, x.category,
       coalesce(x.state, a.state) AS state, a.span,
       (SELECT max(coalesce(p.int_value, p.bool_value::INTEGER, p.double_value))
        FROM artifact_properties p
        WHERE p.source_id = a.source_id AND p.artifact_id = a.artifact_id
          AND p.name = $pushed_property) AS pushed,
       (SELECT max(coalesce(p.int_value, p.bool_value::INTEGER, p.double_value))
        FROM artifact_properties p
        WHERE p.source_id = a.source_id AND p.artifact_id = a.artifact_id
          AND p.name = $blessed_property) AS blessed,
       c.cost, x.start_time, x.end_time
FROM graphlet_members m
LEFT JOIN executions x ON m.node_kind = 'execution' AND x.source_id = m.source_id
                      AND x.execution_id = m.node_id
LEFT JOIN artifacts a ON m.node_kind = 'artifact' AND a.source_id = m.source_id
                     AND a.artifact_id = m.node_id
LEFT JOIN execution_costs c ON m.node_kind = 'execution' AND c.source_id = m.source_id
                           AND c.execution_id = m.node_id
WHERE m.source_id = $source_id AND m.graphlet_id = $graphlet_id
ORDER BY m.node_kind DESC, x.start_time, m.node_id;

-- name: edges
-- Events between members: execution -> artifact for outputs, artifact -> execution for inputs.
WITH mx AS (
    SELECT node_id FROM graphlet_members
    WHERE source_id = $source_id AND graphlet_id = $graphlet_id AND node_kind = 'execution'
), ma AS (
    SELECT node_id FROM graphlet_members
    WHERE source_id = $source_id AND graphlet_id = $graphlet_id AND node_kind = 'artifact'
)
SELECT e.execution_id, e.artifact_id, e.type, e.direction, e.key
FROM events e
WHERE e.source_id = $source_id
  AND e.execution_id IN (SELECT node_id FROM mx)
  AND e.artifact_id IN (SELECT node_id FROM ma)
  AND e.direction IN ('input', 'output')
ORDER BY e.execution_id, e.direction, e.key, e.artifact_id;

-- name: summary
SELECT count(*) AS graphlets,
       count(*) FILTER (WHERE deployed) AS deployed,
       count(*) FILTER (WHERE in_flight) AS in_flight,
       count(*) FILTER (WHERE NOT deployed AND NOT in_flight) AS not_deployed,
       count(DISTINCT (g.source_id, g.pipeline_id)) AS pipelines
FROM graphlets g
LEFT JOIN pipelines p ON p.source_id = g.source_id AND p.pipeline_id = g.pipeline_id
WHERE $all_pipelines OR list_contains($pipelines, p.name);
