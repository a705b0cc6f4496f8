-- The two frames every analysis starts from: executions and graphlets in scope.
--
-- Parameters: $since, $until (TIMESTAMP or NULL: the half-open range [since, until) of execution
-- start times, or of graphlet train times), $pipelines (VARCHAR[] of pipeline names, or NULL for
-- every pipeline), $as_of (TIMESTAMP or NULL: the store's latest recorded time) and
-- $stale_after_s (seconds) of analysis.frames.Liveness. Costs come from the execution_costs view
-- (provenance/schema.sql).

-- name: scope_macro
-- In scope: a time in the half-open range [since, until) (either end NULL: open) and a pipeline
-- name among pipelines (NULL: every pipeline). Every analysis query filters with it.
CREATE OR REPLACE TEMP MACRO in_scope(t, pipeline, since, until, pipelines) AS
    (CAST(since AS TIMESTAMP) IS NULL OR t >= since)
    AND (CAST(until AS TIMESTAMP) IS NULL OR t < until)
    AND (CAST(pipelines AS VARCHAR[]) IS NULL
         OR list_contains(CAST(pipelines AS VARCHAR[]), pipeline));

-- name: macros
-- What became of each graphlet and each execution, as of a time (study.md, items 7 and 8, and
-- "Cost and waste"). Work still RUNNING or NEW whose last activity (last update, else start) is
-- stale_after_s or more before as_of -- or unknown -- is abandoned; newer RUNNING work is in
-- flight. A graphlet is in flight or abandoned with its trainer: its stored reason for not
-- pushing (graphlets.reason) says in_flight, and turns to abandoned here.
CREATE OR REPLACE TEMP MACRO stale_before(as_of, stale_after_s) AS
    coalesce(CAST(as_of AS TIMESTAMP),
             (SELECT max(greatest(start_time, end_time)) FROM executions))
    - to_microseconds(CAST(round(stale_after_s * 1e6) AS BIGINT));
CREATE OR REPLACE TEMP MACRO is_abandoned(state, start_time, end_time, cutoff) AS
    state IN ('RUNNING', 'NEW')
    AND coalesce(greatest(start_time, end_time) < cutoff, TRUE);  -- older than stale_after
CREATE OR REPLACE TEMP MACRO graphlet_liveness(as_of, stale_after_s) AS TABLE
    SELECT g.source_id, g.graphlet_id, g.deployed,
           g.in_flight AND NOT is_abandoned(t.state, t.start_time, t.end_time, c.cutoff)
               AS in_flight,
           g.in_flight AND is_abandoned(t.state, t.start_time, t.end_time, c.cutoff)
               AS abandoned,
           CASE WHEN g.in_flight AND is_abandoned(t.state, t.start_time, t.end_time, c.cutoff)
                THEN 'abandoned' ELSE g.reason END AS reason,   -- why it did not push
           c.cutoff
    FROM graphlets g
    JOIN executions t ON t.source_id = g.source_id AND t.execution_id = g.trainer_execution_id
    CROSS JOIN (SELECT stale_before(as_of, stale_after_s) AS cutoff) c;
CREATE OR REPLACE TEMP MACRO execution_status(as_of, stale_after_s) AS TABLE
    WITH membership AS (
        SELECT m.source_id, m.node_id AS execution_id, bool_or(g.deployed) AS deployed,
               bool_or(g.in_flight) AS in_flight, bool_and(g.abandoned) AS abandoned
        FROM graphlet_members m
        JOIN graphlet_liveness(as_of, stale_after_s) g USING (source_id, graphlet_id)
        WHERE m.node_kind = 'execution'
        GROUP BY m.source_id, m.node_id
    )
    SELECT x.source_id, x.execution_id,
           CASE WHEN m.deployed THEN 'deployed'
                WHEN is_abandoned(x.state, x.start_time, x.end_time,
                                  stale_before(as_of, stale_after_s)) THEN 'abandoned'
                WHEN m.in_flight THEN 'in_flight'
                WHEN m.abandoned THEN 'abandoned'
                WHEN m.execution_id IS NULL THEN 'orphan'
                ELSE 'unpushed' END AS status
    FROM executions x
    LEFT JOIN membership m USING (source_id, execution_id);

-- name: executions
-- One row per execution started in scope, with its cost and waste status (study.md, "Cost and
-- waste"): deployed (member of a deployed graphlet), abandoned (itself left RUNNING, or member
-- only of graphlets whose trainer was), in_flight (member of no deployed graphlet but of one
-- whose trainer is still running), unpushed (member only of graphlets that did not push) or
-- orphan (member of no graphlet).
SELECT x.source_id, x.execution_id, x.pipeline_id, p.name AS pipeline, x.node, x.component,
       x.category, x.state, x.start_time, x.end_time, c.cost AS raw_cost, c.cost_unit, s.status
FROM executions x
JOIN execution_costs c USING (source_id, execution_id)
JOIN execution_status($as_of, $stale_after_s) s USING (source_id, execution_id)
LEFT JOIN pipelines p USING (source_id, pipeline_id)
WHERE in_scope(x.start_time, p.name, $since, $until, $pipelines)
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
       l.in_flight, l.abandoned, l.reason, g.blessed, g.push_time, g.input_spans, g.window_size, g.span_overlap, g.n_executions,
       g.n_artifacts, g.depth, coalesce(mc.own_cost, 0.0) AS own_cost,
       coalesce(mc.split_cost, 0.0) AS split_cost,
       coalesce(mc.other_unit_members, 0) AS other_unit_members
FROM graphlets g
JOIN graphlet_liveness($as_of, $stale_after_s) l USING (source_id, graphlet_id)
LEFT JOIN pipelines p USING (source_id, pipeline_id)
LEFT JOIN member_costs mc USING (source_id, graphlet_id)
WHERE in_scope(g.train_time, p.name, $since, $until, $pipelines)
ORDER BY g.source_id, g.pipeline_id, g.train_time, g.graphlet_id;

-- name: cost_units
-- The cost units of executions in scope with a non-zero cost, most executions first.
SELECT c.cost_unit, count(*) AS executions
FROM executions x
JOIN execution_costs c USING (source_id, execution_id)
LEFT JOIN pipelines p USING (source_id, pipeline_id)
WHERE c.cost <> 0
  AND in_scope(x.start_time, p.name, $since, $until, $pipelines)
GROUP BY c.cost_unit
ORDER BY c.cost_unit = 'seconds', executions DESC, c.cost_unit;
