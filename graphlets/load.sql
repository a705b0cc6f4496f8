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
-- The graphlets $graphlet_ids (in every source, or in $source_ids[i] where it is not NULL).
WITH k AS (SELECT unnest($source_ids) AS source_id, unnest($graphlet_ids) AS graphlet_id)
SELECT g.*, p.name AS pipeline
FROM graphlets g
JOIN k ON k.graphlet_id = g.graphlet_id AND coalesce(k.source_id, g.source_id) = g.source_id
LEFT JOIN pipelines p ON p.source_id = g.source_id AND p.pipeline_id = g.pipeline_id
ORDER BY g.graphlet_id, g.source_id;

-- name: members
-- The members of the graphlets $source_ids[i], $graphlet_ids[i], with what a reader needs to
-- recognise them: component and category of executions, type, span, push flag and verdict of
-- artifacts, and each execution's cost.
WITH k AS (SELECT unnest($source_ids) AS source_id, unnest($graphlet_ids) AS graphlet_id)
SELECT m.source_id, m.graphlet_id, m.node_kind, m.node_id, m.role, m.shared_by,
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
JOIN k ON k.source_id = m.source_id AND k.graphlet_id = m.graphlet_id
LEFT JOIN executions x ON m.node_kind = 'execution' AND x.source_id = m.source_id
                      AND x.execution_id = m.node_id
LEFT JOIN artifacts a ON m.node_kind = 'artifact' AND a.source_id = m.source_id
                     AND a.artifact_id = m.node_id
LEFT JOIN execution_costs c ON m.node_kind = 'execution' AND c.source_id = m.source_id
                           AND c.execution_id = m.node_id
ORDER BY m.source_id, m.graphlet_id, m.node_kind DESC, x.start_time, m.node_id;

-- name: edges
-- Events between the members of each of those graphlets: execution -> artifact for outputs,
-- artifact -> execution for inputs.
WITH k AS (SELECT unnest($source_ids) AS source_id, unnest($graphlet_ids) AS graphlet_id),
m AS (
    SELECT m.source_id, m.graphlet_id, m.node_kind, m.node_id FROM graphlet_members m
    JOIN k ON k.source_id = m.source_id AND k.graphlet_id = m.graphlet_id
)
SELECT mx.source_id, mx.graphlet_id, e.execution_id, e.artifact_id, e.type, e.direction, e.key
FROM events e
JOIN m mx ON mx.node_kind = 'execution' AND mx.source_id = e.source_id
         AND mx.node_id = e.execution_id
JOIN m ma ON ma.node_kind = 'artifact' AND ma.source_id = mx.source_id
         AND ma.graphlet_id = mx.graphlet_id AND ma.node_id = e.artifact_id
WHERE e.direction IN ('input', 'output')
ORDER BY mx.source_id, mx.graphlet_id, e.execution_id, e.direction, e.key, e.artifact_id;

-- name: summary
SELECT count(*) AS graphlets,
       count(*) FILTER (WHERE deployed) AS deployed,
       count(*) FILTER (WHERE in_flight) AS in_flight,
       count(*) FILTER (WHERE NOT deployed AND NOT in_flight) AS not_deployed,
       count(DISTINCT (g.source_id, g.pipeline_id)) AS pipelines
FROM graphlets g
LEFT JOIN pipelines p ON p.source_id = g.source_id AND p.pipeline_id = g.pipeline_id
WHERE $all_pipelines OR list_contains($pipelines, p.name);
