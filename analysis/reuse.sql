-- Reuse opportunities: work recomputed over data already processed, and what caching saves.
-- Parameters as in frames.sql: $since, $until, $pipelines (filtered by its in_scope macro);
-- $categories (VARCHAR[]).

-- name: span_inputs
-- One row per (non-cached execution of the given categories, input artifact with a span): was
-- that artifact already read by an earlier non-cached execution of the same pipeline node?
-- "Earlier" looks at the whole store, so work before $since still counts as done.
WITH reads AS (
    SELECT x.source_id, x.execution_id, x.pipeline_id, x.node, x.component, x.category,
           x.start_time, e.artifact_id, a.span,
           count(*) OVER (
               PARTITION BY x.source_id, x.pipeline_id, x.node, e.artifact_id
               ORDER BY x.start_time, x.execution_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) > 0 AS seen_before
    FROM executions x
    JOIN events e USING (source_id, execution_id)
    JOIN artifacts a USING (source_id, artifact_id)
    WHERE x.state <> 'CACHED' AND e.direction = 'input' AND a.span IS NOT NULL
      AND list_contains(CAST($categories AS VARCHAR[]), x.category)
)
SELECT r.source_id, r.execution_id, p.name AS pipeline, r.node, r.component, r.category,
       r.start_time, c.cost, c.cost_unit, count(*) AS spans,
       count(*) FILTER (WHERE r.seen_before) AS seen_spans
FROM reads r
JOIN execution_costs c USING (source_id, execution_id)
LEFT JOIN pipelines p USING (source_id, pipeline_id)
WHERE in_scope(r.start_time, p.name, $since, $until, $pipelines)
GROUP BY ALL
ORDER BY r.source_id, r.execution_id;

-- name: cache_hits
-- One row per cache hit in scope and each original (non-cached) producer of the artifacts it
-- re-published; original_id is NULL when it re-published nothing a producer is known for.
WITH hits AS (
    SELECT x.source_id, x.execution_id, p.name AS pipeline, x.node, x.component, x.category,
           x.start_time
    FROM executions x
    LEFT JOIN pipelines p USING (source_id, pipeline_id)
    WHERE x.state = 'CACHED'
      AND in_scope(x.start_time, p.name, $since, $until, $pipelines)
),
originals AS (
    SELECT DISTINCT h.source_id, h.execution_id, o.execution_id AS original_id
    FROM hits h
    JOIN events out ON out.source_id = h.source_id AND out.execution_id = h.execution_id
                   AND out.type = 'OUTPUT'
    JOIN events o ON o.source_id = out.source_id AND o.artifact_id = out.artifact_id
                 AND o.type = 'OUTPUT'
    JOIN executions ox ON ox.source_id = o.source_id AND ox.execution_id = o.execution_id
    WHERE ox.state <> 'CACHED'
)
SELECT h.source_id, h.execution_id, h.pipeline, h.node, h.component, h.category,
       h.start_time, o.original_id, c.cost AS original_cost, c.cost_unit AS original_unit
FROM hits h
LEFT JOIN originals o USING (source_id, execution_id)
LEFT JOIN execution_costs c ON c.source_id = o.source_id AND c.execution_id = o.original_id
ORDER BY h.source_id, h.execution_id, o.original_id;
