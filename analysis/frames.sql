-- The two frames every analysis starts from: executions and graphlets in scope.
--
-- Parameters: $since, $until (TIMESTAMP or NULL: the half-open range [since, until) of execution
-- start times, or of graphlet train times), $pipelines (VARCHAR[] of pipeline names, or NULL for
-- every pipeline). Costs come from the execution_costs view (provenance/schema.sql).

-- name: executions
-- One row per execution started in scope, with its cost and waste status (study.md, "Cost and
-- waste"): deployed (member of a deployed graphlet), in_flight (member of no deployed graphlet
-- but of one whose trainer is still running), unpushed (member only of graphlets that did not
-- push) or orphan (member of no graphlet).
WITH membership AS (
    SELECT m.source_id, m.node_id AS execution_id,
           bool_or(g.deployed) AS deployed, bool_or(g.in_flight) AS in_flight
    FROM graphlet_members m
    JOIN graphlets g USING (source_id, graphlet_id)
    WHERE m.node_kind = 'execution'
    GROUP BY m.source_id, m.node_id
)
SELECT x.source_id, x.execution_id, x.pipeline_id, p.name AS pipeline, x.node, x.component,
       x.category, x.state, x.start_time, x.end_time, c.cost AS raw_cost, c.cost_unit,
       CASE WHEN m.execution_id IS NULL THEN 'orphan'
            WHEN m.deployed THEN 'deployed'
            WHEN m.in_flight THEN 'in_flight'
            ELSE 'unpushed' END AS status
FROM executions x
JOIN execution_costs c USING (source_id, execution_id)
LEFT JOIN pipelines p USING (source_id, pipeline_id)
LEFT JOIN membership m USING (source_id, execution_id)
WHERE (CAST($since AS TIMESTAMP) IS NULL OR x.start_time >= $since)
  AND (CAST($until AS TIMESTAMP) IS NULL OR x.start_time < $until)
  AND (CAST($pipelines AS VARCHAR[]) IS NULL
       OR list_contains(CAST($pipelines AS VARCHAR[]), p.name))
ORDER BY x.source_id, x.execution_id;

-- name: graphlets
-- One row per graphlet whose training execution started in scope. Costs are recomputed from
-- the members in the unit $unit (a zero cost, e.g. a cache hit, counts in every unit):
-- own_cost sums the member executions, split_cost divides each by how many graphlets share it.
-- other_unit_members counts members whose cost is in another unit and so left out.
WITH member_costs AS (
    SELECT m.source_id, m.graphlet_id,
           sum(CASE WHEN c.cost_unit = $unit OR c.cost = 0 THEN c.cost END) AS own_cost,
           sum(CASE WHEN c.cost_unit = $unit OR c.cost = 0 THEN c.cost / m.shared_by END)
               AS split_cost,
           count(*) FILTER (WHERE c.cost_unit <> $unit AND c.cost <> 0) AS other_unit_members
    FROM graphlet_members m
    JOIN execution_costs c ON c.source_id = m.source_id AND c.execution_id = m.node_id
    WHERE m.node_kind = 'execution'
    GROUP BY m.source_id, m.graphlet_id
)
SELECT g.source_id, g.graphlet_id, g.pipeline_id, p.name AS pipeline, g.trainer_execution_id,
       g.trainer_state, g.model_type, g.start_time, g.train_time, g.end_time, g.deployed,
       g.in_flight, g.push_time, g.input_spans, g.window_size, g.span_overlap, g.n_executions,
       g.n_artifacts, g.depth, coalesce(mc.own_cost, 0.0) AS own_cost,
       coalesce(mc.split_cost, 0.0) AS split_cost,
       coalesce(mc.other_unit_members, 0) AS other_unit_members
FROM graphlets g
LEFT JOIN pipelines p USING (source_id, pipeline_id)
LEFT JOIN member_costs mc USING (source_id, graphlet_id)
WHERE (CAST($since AS TIMESTAMP) IS NULL OR g.train_time >= $since)
  AND (CAST($until AS TIMESTAMP) IS NULL OR g.train_time < $until)
  AND (CAST($pipelines AS VARCHAR[]) IS NULL
       OR list_contains(CAST($pipelines AS VARCHAR[]), p.name))
ORDER BY g.source_id, g.pipeline_id, g.train_time, g.graphlet_id;

-- name: cost_units
-- The cost units of executions in scope with a non-zero cost, most executions first.
SELECT c.cost_unit, count(*) AS executions
FROM executions x
JOIN execution_costs c USING (source_id, execution_id)
LEFT JOIN pipelines p USING (source_id, pipeline_id)
WHERE c.cost <> 0
  AND (CAST($since AS TIMESTAMP) IS NULL OR x.start_time >= $since)
  AND (CAST($until AS TIMESTAMP) IS NULL OR x.start_time < $until)
  AND (CAST($pipelines AS VARCHAR[]) IS NULL
       OR list_contains(CAST($pipelines AS VARCHAR[]), p.name))
GROUP BY c.cost_unit
ORDER BY c.cost_unit = 'seconds', executions DESC, c.cost_unit;
