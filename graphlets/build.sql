-- Named queries of the graphlet builder (graphlets/build.py). All work is set-at-a-time over
-- every pipeline in scope at once: edges are keyed by (source_id, pkey), pkey being the
-- pipeline id (-1 for executions in no pipeline), so walks never leave their pipeline.
-- Parameters come from GraphletRules (graphlets/rules.py).

-- name: whole_region
-- Rebuilding pipelines whole (gl_scope): the region is all of them, and all their graphlets go.
CREATE OR REPLACE TEMP TABLE gl_region AS
SELECT source_id, pkey, x FROM gl_now n
SEMI JOIN gl_scope s ON s.source_id = n.source_id AND s.pkey = n.pkey;

CREATE OR REPLACE TEMP TABLE gl_drop AS
SELECT g.source_id, g.graphlet_id, coalesce(g.pipeline_id, -1) AS pkey FROM graphlets g
SEMI JOIN gl_scope s ON s.source_id = g.source_id AND s.pkey = coalesce(g.pipeline_id, -1);

CREATE OR REPLACE TEMP TABLE gl_pipes AS SELECT source_id, pkey FROM gl_scope;

-- name: prepare
-- Executions of the region (gl_region: whole pipelines, or the part of them a refresh needs),
-- and the producing / consuming edges between them and artifacts.
CREATE OR REPLACE TEMP TABLE gl_x AS
SELECT x.source_id, coalesce(x.pipeline_id, -1) AS pkey, x.pipeline_id,
       x.execution_id AS x, x.category, x.component, x.state, x.start_time, x.end_time,
       x.category = $anchor_category AS train_cat,
       x.category = $anchor_category
           AND NOT list_contains($non_anchor_components, x.component) AS trainer
FROM executions x
SEMI JOIN gl_region r ON r.source_id = x.source_id AND r.x = x.execution_id;

CREATE OR REPLACE TEMP TABLE gl_prod AS
SELECT DISTINCT e.source_id, x.pkey, e.artifact_id AS a, x.x, x.start_time AS t, x.trainer,
       x.train_cat, x.state = 'CACHED' AS cached, x.category, x.end_time
FROM events e JOIN gl_x x ON x.source_id = e.source_id AND x.x = e.execution_id
WHERE list_contains($producing_events, e.type);

-- Artifacts a trainer produced: models, where the upstream walk stops (warm start).
CREATE OR REPLACE TEMP TABLE gl_boundary AS
SELECT DISTINCT source_id, pkey, a FROM gl_prod WHERE trainer AND $stop_at_warm_start_models;

-- Whether a producer is followed upstream: without follow_cached_to_original_producer the
-- original producer of an artifact a cache hit re-published is left out.
CREATE OR REPLACE TEMP TABLE gl_recached AS
SELECT DISTINCT source_id, pkey, a FROM gl_prod WHERE cached;

CREATE OR REPLACE TEMP TABLE gl_cons AS
SELECT e.source_id, x.pkey, e.artifact_id AS a, x.x, min(e.key) AS key, x.start_time AS t,
       x.category, x.train_cat,
       bool_and(e.key IS NULL) AS keyless
FROM events e JOIN gl_x x ON x.source_id = e.source_id AND x.x = e.execution_id
WHERE list_contains($consuming_events, e.type)
GROUP BY ALL;

-- name: whole_anchors
CREATE OR REPLACE TEMP TABLE gl_anchor AS
SELECT source_id, pkey, x AS g FROM gl_x WHERE trainer AND state <> 'CACHED';

-- name: edges
-- Execution-to-execution edges (consumer x read an artifact producer p wrote), with what the
-- upstream walk needs to know about each.
CREATE OR REPLACE TEMP TABLE gl_edge AS
SELECT c.source_id, c.pkey, c.x, p.x AS p, p.train_cat AS p_train, c.train_cat AS x_train,
       (NOT $causal_producers OR p.t IS NULL OR c.t IS NULL OR p.t <= c.t) AS causal,
       c.category <> 'ingest'
           AND b.a IS NULL
           AND ($follow_cached OR p.cached OR r.a IS NULL) AS walk_up
FROM gl_cons c
JOIN gl_prod p ON p.source_id = c.source_id AND p.pkey = c.pkey AND p.a = c.a
LEFT JOIN gl_boundary b ON b.source_id = c.source_id AND b.pkey = c.pkey AND b.a = c.a
LEFT JOIN gl_recached r ON r.source_id = c.source_id AND r.pkey = c.pkey AND r.a = c.a
WHERE p.x <> c.x;

-- name: newest
-- For executions reading models through keyless events: the graphlet (trainer) of the newest
-- such model. They join only that graphlet downstream.
CREATE OR REPLACE TEMP TABLE gl_newest AS
WITH models AS (
    SELECT source_id, pkey, a, min(x) FILTER (WHERE NOT cached) AS anchor
    FROM gl_prod WHERE trainer GROUP BY ALL
)
SELECT c.source_id, c.pkey, c.x, m.anchor
FROM gl_cons c
JOIN models m ON m.source_id = c.source_id AND m.pkey = c.pkey AND m.a = c.a
LEFT JOIN artifacts ar ON ar.source_id = c.source_id AND ar.artifact_id = c.a
WHERE c.keyless AND $newest_rule
QUALIFY row_number() OVER (PARTITION BY c.source_id, c.pkey, c.x
                           ORDER BY ar.create_time DESC NULLS LAST, c.a DESC) = 1;

-- name: upstream
-- Walk backwards from every anchor at once. clean: reached without passing through another
-- execution of the training category (a Tuner), i.e. on the anchor's own data path.
CREATE OR REPLACE TEMP TABLE gl_up AS
WITH RECURSIVE up(source_id, pkey, g, x, clean) AS (
    SELECT source_id, pkey, g, g, true FROM gl_anchor
    UNION
    SELECT u.source_id, u.pkey, u.g, e.p, u.clean AND NOT e.p_train
    FROM up u
    JOIN gl_edge e ON e.source_id = u.source_id AND e.pkey = u.pkey AND e.x = u.x
    WHERE e.walk_up AND e.causal
)
SELECT source_id, pkey, g, x, bool_or(clean) AS clean FROM up GROUP BY ALL;

-- name: downstream
-- Walk forwards from every anchor at once, through consumers and their outputs: first the
-- steps a walk may take, execution x to the execution y its outputs feed (once, not at every
-- step of the walk), y joining only the graphlet of `anchor` when `newest` says so.
CREATE OR REPLACE TEMP TABLE gl_next AS
SELECT DISTINCT p.source_id, p.pkey, p.x, c.x AS y, n.x IS NOT NULL AS newest, n.anchor
FROM gl_prod p
JOIN gl_cons c ON c.source_id = p.source_id AND c.pkey = p.pkey AND c.a = p.a
LEFT JOIN gl_newest n ON n.source_id = c.source_id AND n.pkey = c.pkey AND n.x = c.x
WHERE NOT ($exclude_other_trainers AND c.train_cat)
  AND (c.key IS NULL OR NOT list_contains($excluded_keys, c.key));

CREATE OR REPLACE TEMP TABLE gl_dn AS
WITH RECURSIVE dn(source_id, pkey, g, x) AS (
    SELECT source_id, pkey, g, g FROM gl_anchor
    UNION
    SELECT d.source_id, d.pkey, d.g, s.y
    FROM dn d
    JOIN gl_next s ON s.source_id = d.source_id AND s.pkey = d.pkey AND s.x = d.x
    WHERE s.y <> d.g AND (NOT s.newest OR s.anchor = d.g)
)
SELECT * FROM dn;

-- name: members
-- Members so far, one role each: executions anchor > upstream > downstream, artifacts
-- boundary > upstream > downstream. Artifacts: the inputs of the anchor and of upstream
-- executions (ingest executions are roots: their inputs are not walked), and the outputs of
-- the anchor and of downstream executions.
CREATE OR REPLACE TEMP TABLE gl_mx AS
SELECT source_id, pkey, g, x, CASE WHEN x = g THEN 'anchor' ELSE 'upstream' END AS role
FROM gl_up
UNION ALL
SELECT source_id, pkey, g, x, 'downstream' FROM gl_dn d
WHERE x <> g
  AND NOT EXISTS (SELECT 1 FROM gl_up u WHERE u.source_id = d.source_id AND u.pkey = d.pkey
                  AND u.g = d.g AND u.x = d.x);

CREATE OR REPLACE TEMP TABLE gl_ma AS
WITH raw AS (
    SELECT u.source_id, u.pkey, u.g, c.a,
           CASE WHEN b.a IS NOT NULL THEN 1 ELSE 2 END AS rank, u.clean
    FROM gl_up u
    JOIN gl_cons c ON c.source_id = u.source_id AND c.pkey = u.pkey AND c.x = u.x
    LEFT JOIN gl_boundary b ON b.source_id = c.source_id AND b.pkey = c.pkey AND b.a = c.a
    WHERE c.category <> 'ingest'
    UNION ALL
    SELECT d.source_id, d.pkey, d.g, p.a, 3, false
    FROM gl_dn d
    JOIN gl_prod p ON p.source_id = d.source_id AND p.pkey = d.pkey AND p.x = d.x
)
SELECT source_id, pkey, g, a,
       ['boundary', 'upstream', 'downstream'][min(rank)] AS role,
       bool_or(clean AND rank = 2) AS clean
FROM raw GROUP BY ALL;

-- name: feeds
-- Executions with a causal path into a training execution: they never join as side branches.
-- Computed over whole pipelines only (a refresh reads them from graphlet_seen instead).
CREATE OR REPLACE TEMP TABLE gl_feeds AS
WITH RECURSIVE f(source_id, pkey, x) AS (
    SELECT source_id, pkey, p FROM gl_edge WHERE x_train AND causal
    UNION
    SELECT e.source_id, e.pkey, e.p
    FROM f JOIN gl_edge e ON e.source_id = f.source_id AND e.pkey = f.pkey AND e.x = f.x
    WHERE e.causal
)
SELECT DISTINCT * FROM f;

-- name: see_whole
-- What the whole pipelines' graphlets now reflect, execution by execution.
INSERT INTO graphlet_seen
SELECT n.source_id, n.x, n.pkey, n.shape, n.state, coalesce(e.n, 0), f.x IS NOT NULL
FROM gl_now n
LEFT JOIN (SELECT e.source_id, e.execution_id AS x, count(*) AS n FROM events e
           SEMI JOIN gl_x x ON x.source_id = e.source_id AND x.x = e.execution_id
           GROUP BY ALL) e ON e.source_id = n.source_id AND e.x = n.x
LEFT JOIN (SELECT DISTINCT source_id, x FROM gl_feeds) f
       ON f.source_id = n.source_id AND f.x = n.x
WHERE EXISTS (SELECT 1 FROM gl_scope s WHERE s.source_id = n.source_id AND s.pkey = n.pkey)
ORDER BY n.source_id, n.x;

-- name: seen_feeds
-- A refresh reads which executions feed trainers from graphlet_seen (see refresh.sql).
CREATE OR REPLACE TEMP TABLE gl_feeds AS
SELECT r.source_id, r.pkey, r.x FROM gl_region r
JOIN graphlet_seen s ON s.source_id = r.source_id AND s.execution_id = r.x
WHERE s.feeds;

-- name: side_candidates
-- Executions that may join a graphlet as a side branch: they read at least one artifact, are
-- not training runs (under exclude_other_trainers) and feed no training execution.
CREATE OR REPLACE TEMP TABLE gl_cand AS
SELECT c.source_id, c.pkey, c.x, count(DISTINCT c.a) AS n_in
FROM gl_cons c
WHERE NOT ($exclude_other_trainers AND c.train_cat)
  AND NOT EXISTS (SELECT 1 FROM gl_feeds f WHERE f.source_id = c.source_id
                  AND f.pkey = c.pkey AND f.x = c.x)
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE gl_new_art AS SELECT source_id, pkey, g, a FROM gl_ma
WHERE role <> 'boundary';

-- name: side_step
-- One round of side branches: candidates reading an artifact that joined last round whose
-- every input is a non-boundary artifact of the graphlet join it, with their outputs.
CREATE OR REPLACE TEMP TABLE gl_side AS
WITH trig AS (
    SELECT DISTINCT n.source_id, n.pkey, n.g, c.x
    FROM gl_new_art n
    JOIN gl_cons c ON c.source_id = n.source_id AND c.pkey = n.pkey AND c.a = n.a
    SEMI JOIN gl_cand k ON k.source_id = c.source_id AND k.pkey = c.pkey AND k.x = c.x
), fresh AS (
    SELECT * FROM trig t
    WHERE NOT EXISTS (SELECT 1 FROM gl_mx m WHERE m.source_id = t.source_id
                      AND m.pkey = t.pkey AND m.g = t.g AND m.x = t.x)
), hits AS (
    SELECT t.source_id, t.pkey, t.g, t.x, count(DISTINCT c.a) AS n
    FROM fresh t
    JOIN gl_cons c ON c.source_id = t.source_id AND c.pkey = t.pkey AND c.x = t.x
    JOIN gl_ma m ON m.source_id = c.source_id AND m.pkey = c.pkey AND m.g = t.g
                AND m.a = c.a AND m.role <> 'boundary'
    GROUP BY ALL
)
SELECT h.source_id, h.pkey, h.g, h.x
FROM hits h JOIN gl_cand k USING (source_id, pkey, x)
WHERE h.n = k.n_in;

INSERT INTO gl_mx SELECT source_id, pkey, g, x, 'side' FROM gl_side;

CREATE OR REPLACE TEMP TABLE gl_new_art AS
SELECT DISTINCT s.source_id, s.pkey, s.g, p.a
FROM gl_side s
JOIN gl_prod p ON p.source_id = s.source_id AND p.pkey = s.pkey AND p.x = s.x
WHERE NOT EXISTS (SELECT 1 FROM gl_ma m WHERE m.source_id = s.source_id AND m.pkey = s.pkey
                  AND m.g = s.g AND m.a = p.a);

INSERT INTO gl_ma SELECT source_id, pkey, g, a, 'side', false FROM gl_new_art;

-- name: clear
-- Remove the graphlets being redone (gl_drop), keeping the nodes they held: their counts of
-- sharing graphlets change. (Pipelines rebuilt whole keep no graphlet to recount.)
CREATE OR REPLACE TEMP TABLE gl_touched AS
SELECT * FROM (
    SELECT DISTINCT m.source_id, d.pkey, m.node_kind AS kind, m.node_id AS node
    FROM graphlet_members m
    JOIN gl_drop d ON d.source_id = m.source_id AND d.graphlet_id = m.graphlet_id
    UNION
    SELECT DISTINCT source_id, pkey, 'execution', x FROM gl_mx
    UNION
    SELECT DISTINCT source_id, pkey, 'artifact', a FROM gl_ma
) WHERE NOT $whole;

DELETE FROM graphlet_members m
WHERE EXISTS (SELECT 1 FROM gl_drop d
              WHERE d.source_id = m.source_id AND d.graphlet_id = m.graphlet_id);

DELETE FROM graphlets g
WHERE EXISTS (SELECT 1 FROM gl_drop d
              WHERE d.source_id = g.source_id AND d.graphlet_id = g.graphlet_id);

-- name: write_members
-- shared_by: graphlets of the node's pipeline holding it, kept ones and new ones. Rows of kept
-- graphlets whose count changed are updated, and their split cost is redone (gl_resplit).
CREATE OR REPLACE TEMP TABLE gl_kept AS
WITH hit AS (
    SELECT m.source_id, m.graphlet_id, m.node_kind AS kind, m.node_id AS node, m.shared_by
    FROM graphlet_members m
    SEMI JOIN gl_touched t ON t.source_id = m.source_id AND t.kind = m.node_kind
                          AND t.node = m.node_id
)
SELECT h.*, coalesce(g.pipeline_id, -1) AS pkey
FROM hit h JOIN graphlets g ON g.source_id = h.source_id AND g.graphlet_id = h.graphlet_id
SEMI JOIN gl_touched t ON t.source_id = h.source_id AND t.kind = h.kind AND t.node = h.node
                      AND t.pkey = coalesce(g.pipeline_id, -1);

CREATE OR REPLACE TEMP TABLE gl_shared AS
SELECT source_id, pkey, kind, node, count(*) AS n
FROM (SELECT source_id, pkey, kind, node FROM gl_kept
      UNION ALL SELECT source_id, pkey, 'execution', x FROM gl_mx
      UNION ALL SELECT source_id, pkey, 'artifact', a FROM gl_ma)
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE gl_reshared AS
SELECT k.source_id, k.graphlet_id, k.kind, k.node, s.n
FROM gl_kept k JOIN gl_shared s USING (source_id, pkey, kind, node)
WHERE s.n <> k.shared_by;

UPDATE graphlet_members m SET shared_by = r.n
FROM gl_reshared r
WHERE m.source_id = r.source_id AND m.graphlet_id = r.graphlet_id AND m.node_kind = r.kind
  AND m.node_id = r.node;

INSERT INTO graphlet_members
SELECT m.source_id, m.g, 'execution', m.x, m.role, s.n
FROM gl_mx m
JOIN gl_shared s ON s.source_id = m.source_id AND s.pkey = m.pkey AND s.kind = 'execution'
                AND s.node = m.x
ORDER BY m.source_id, m.x;   -- clustered by node: later refreshes probe by node id

INSERT INTO graphlet_members
SELECT m.source_id, m.g, 'artifact', m.a, m.role, s.n
FROM gl_ma m
JOIN gl_shared s ON s.source_id = m.source_id AND s.pkey = m.pkey AND s.kind = 'artifact'
                AND s.node = m.a
ORDER BY m.source_id, m.a;

CREATE OR REPLACE TEMP TABLE gl_resplit AS
SELECT source_id, g AS graphlet_id FROM gl_anchor
UNION
SELECT source_id, graphlet_id FROM gl_reshared WHERE kind = 'execution';

-- name: write_graphlets
-- One row per anchor. Depth: the longest chain of member executions linked through member
-- artifacts (a recursion keyed by node keeps each node's longest distance). Deployed: a
-- member deploy execution wrote an artifact with pushed_property = 1, the push time being
-- the earliest end of any deploy execution that wrote that artifact (a cache hit
-- re-publishing it is the same push), or, under deploy_on_complete, a COMPLETE member deploy
-- execution none of whose outputs carries the property.
CREATE OR REPLACE TEMP TABLE gl_medge AS
WITH p AS (    -- member artifacts with their member producers
    SELECT a.source_id, a.pkey, a.g, a.a, pr.x
    FROM gl_ma a
    JOIN gl_prod pr ON pr.source_id = a.source_id AND pr.pkey = a.pkey AND pr.a = a.a
    SEMI JOIN gl_mx m ON m.source_id = pr.source_id AND m.pkey = pr.pkey AND m.g = a.g
                     AND m.x = pr.x
), c AS (      -- and their member consumers
    SELECT a.source_id, a.pkey, a.g, a.a, co.x AS y
    FROM gl_ma a
    JOIN gl_cons co ON co.source_id = a.source_id AND co.pkey = a.pkey AND co.a = a.a
    SEMI JOIN gl_mx m ON m.source_id = co.source_id AND m.pkey = co.pkey AND m.g = a.g
                     AND m.x = co.x
)
SELECT DISTINCT p.source_id, p.pkey, p.g, p.x, c.y
FROM p JOIN c ON c.source_id = p.source_id AND c.pkey = p.pkey AND c.g = p.g AND c.a = p.a
WHERE c.y <> p.x;

CREATE OR REPLACE TEMP TABLE gl_depth AS
WITH RECURSIVE lvl(source_id, pkey, g, x, d) USING KEY (source_id, pkey, g, x) AS (
    SELECT source_id, pkey, g, x, 1 FROM gl_mx
    UNION
    SELECT l.source_id, l.pkey, l.g, e.y, l.d + 1
    FROM lvl l
    JOIN gl_medge e ON e.source_id = l.source_id AND e.pkey = l.pkey AND e.g = l.g
                   AND e.x = l.x
    WHERE l.d < 10000
)
SELECT source_id, pkey, g, max(d) AS depth FROM lvl GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE gl_pushed AS
WITH flagged AS (
    SELECT source_id, artifact_id AS a,
           max(coalesce(int_value, bool_value::INTEGER, double_value)) = 1 AS pushed
    FROM artifact_properties WHERE name = $pushed_property GROUP BY ALL
), first_push AS (
    SELECT p.source_id, p.pkey, p.a, min(p.end_time) AS t
    FROM gl_prod p WHERE p.category = $deploy_category GROUP BY ALL
), by_property AS (
    SELECT m.source_id, m.pkey, m.g, min(fp.t) AS t, bool_or(f.pushed) AS pushed
    FROM gl_mx m
    JOIN gl_prod p ON p.source_id = m.source_id AND p.pkey = m.pkey AND p.x = m.x
    JOIN flagged f ON f.source_id = p.source_id AND f.a = p.a
    JOIN first_push fp ON fp.source_id = p.source_id AND fp.pkey = p.pkey AND fp.a = p.a
    WHERE p.category = $deploy_category AND f.pushed
    GROUP BY ALL
), by_rule AS (
    SELECT m.source_id, m.pkey, m.g, min(x.end_time) AS t, true AS pushed
    FROM gl_mx m
    JOIN gl_x x ON x.source_id = m.source_id AND x.x = m.x
    WHERE $deploy_on_complete AND x.category = $deploy_category AND x.state = 'COMPLETE'
      AND NOT EXISTS (SELECT 1 FROM gl_prod p JOIN flagged f
                          ON f.source_id = p.source_id AND f.a = p.a
                      WHERE p.source_id = m.source_id AND p.pkey = m.pkey AND p.x = m.x)
    GROUP BY ALL
)
SELECT source_id, pkey, g, min(t) AS push_time
FROM (SELECT * FROM by_property UNION ALL SELECT * FROM by_rule)
GROUP BY ALL;

-- Why a graphlet did not push, from its members alone (so a refresh redoes it with them):
-- the verdict is the validation outputs' blessed_property (any 0 rejects: an
-- InfraValidator may reject what the Evaluator blessed), then the first that holds of
-- in_flight (trainer still RUNNING or NEW, which analyses split off as abandoned),
-- trainer_failed, not_blessed, cut_before_evaluation (no verdict and no deploy step: no
-- validation ran, or it failed or never finished), push_failed (a deploy step did not
-- complete) and push_skipped (no deploy step ran, or it completed without pushing).
CREATE OR REPLACE TEMP TABLE gl_verdict AS
WITH flagged AS (
    SELECT source_id, artifact_id AS a,
           max(coalesce(int_value, bool_value::INTEGER, double_value)) AS blessed
    FROM artifact_properties WHERE name = $blessed_property GROUP BY ALL
), verdicts AS (
    SELECT m.source_id, m.pkey, m.g, min(f.blessed) = 1 AS blessed
    FROM gl_mx m
    JOIN gl_prod p ON p.source_id = m.source_id AND p.pkey = m.pkey AND p.x = m.x
    JOIN flagged f ON f.source_id = p.source_id AND f.a = p.a
    WHERE p.category = $validation_category
    GROUP BY ALL
), steps AS (
    SELECT m.source_id, m.pkey, m.g,
           count(*) FILTER (WHERE x.category = $validation_category
                            AND x.state IN ('COMPLETE', 'CACHED')) AS validated,
           count(*) FILTER (WHERE x.category = $deploy_category) AS deploys,
           count(*) FILTER (WHERE x.category = $deploy_category
                            AND x.state NOT IN ('COMPLETE', 'CACHED')) AS deploys_failed
    FROM gl_mx m JOIN gl_x x ON x.source_id = m.source_id AND x.x = m.x
    GROUP BY ALL
)
SELECT n.source_id, n.pkey, n.g, v.blessed,
       CASE WHEN pu.g IS NOT NULL THEN 'pushed'
            WHEN t.state IN ('RUNNING', 'NEW') THEN 'in_flight'
            WHEN t.state <> 'COMPLETE' THEN 'trainer_failed'
            WHEN NOT v.blessed THEN 'not_blessed'
            WHEN v.blessed IS NULL AND s.validated = 0 AND s.deploys = 0
                THEN 'cut_before_evaluation'
            WHEN s.deploys_failed > 0 THEN 'push_failed'
            ELSE 'push_skipped' END AS reason
FROM gl_anchor n
JOIN gl_x t ON t.source_id = n.source_id AND t.x = n.g
JOIN steps s ON s.source_id = n.source_id AND s.pkey = n.pkey AND s.g = n.g
LEFT JOIN verdicts v ON v.source_id = n.source_id AND v.pkey = n.pkey AND v.g = n.g
LEFT JOIN gl_pushed pu ON pu.source_id = n.source_id AND pu.pkey = n.pkey AND pu.g = n.g;

CREATE OR REPLACE TEMP TABLE gl_spans AS
SELECT m.source_id, m.pkey, m.g, list_sort(list_distinct(list(ar.span))) AS spans
FROM gl_ma m
JOIN artifacts ar ON ar.source_id = m.source_id AND ar.artifact_id = m.a
WHERE m.clean AND ar.type_name = 'Examples' AND ar.span IS NOT NULL
GROUP BY ALL;

INSERT INTO graphlets
WITH costs AS (
    SELECT m.source_id, m.pkey, m.g, x.start_time, x.end_time, c.cost, c.cost_unit
    FROM gl_mx m
    JOIN gl_x x ON x.source_id = m.source_id AND x.x = m.x
    JOIN execution_costs c ON c.source_id = m.source_id AND c.execution_id = m.x
), agg AS (
    SELECT source_id, pkey, g, min(start_time) AS start_time, max(end_time) AS end_time,
           count(*) AS n_executions, sum(cost) AS own_cost,
           CASE WHEN count(DISTINCT cost_unit) = 1 THEN min(cost_unit)
                ELSE string_agg(DISTINCT cost_unit, '+' ORDER BY cost_unit) END AS cost_unit
    FROM costs GROUP BY ALL
), arts AS (
    SELECT source_id, pkey, g, count(*) AS n_artifacts FROM gl_ma GROUP BY ALL
), model_types AS (
    SELECT p.source_id, p.execution_id AS g, min(p.string_value) AS model_type
    FROM execution_properties p
    SEMI JOIN gl_anchor t ON t.source_id = p.source_id AND t.g = p.execution_id
    WHERE p.name = 'model_type' GROUP BY ALL
)
SELECT t.source_id, t.x AS graphlet_id, t.pipeline_id, t.x AS trainer_execution_id,
       t.state AS trainer_state, mt.model_type, a.start_time, t.start_time AS train_time,
       a.end_time, pu.g IS NOT NULL AS deployed, t.state IN ('RUNNING', 'NEW') AS in_flight,
       pu.push_time, coalesce(sp.spans, []::BIGINT[]) AS input_spans,
       len(coalesce(sp.spans, []::BIGINT[])) AS window_size,
       NULL AS span_overlap,   -- set by span_overlaps, over the whole pipeline
       a.n_executions, coalesce(ar.n_artifacts, 0) AS n_artifacts, d.depth, a.own_cost,
       0.0 AS split_cost,      -- set by split_costs, once shared_by is final
       a.cost_unit, v.blessed, v.reason
FROM gl_anchor n
JOIN gl_x t ON t.source_id = n.source_id AND t.x = n.g
JOIN agg a ON a.source_id = t.source_id AND a.pkey = t.pkey AND a.g = t.x
LEFT JOIN arts ar ON ar.source_id = t.source_id AND ar.pkey = t.pkey AND ar.g = t.x
LEFT JOIN gl_depth d ON d.source_id = t.source_id AND d.pkey = t.pkey AND d.g = t.x
LEFT JOIN gl_pushed pu ON pu.source_id = t.source_id AND pu.pkey = t.pkey AND pu.g = t.x
LEFT JOIN gl_spans sp ON sp.source_id = t.source_id AND sp.pkey = t.pkey AND sp.g = t.x
LEFT JOIN model_types mt ON mt.source_id = t.source_id AND mt.g = t.x
JOIN gl_verdict v ON v.source_id = t.source_id AND v.pkey = t.pkey AND v.g = t.x;

-- name: split_costs
-- Each member execution's cost split equally among the graphlets of its pipeline holding it.
UPDATE graphlets g SET split_cost = s.split_cost
FROM (
    SELECT m.source_id, m.graphlet_id, sum(c.cost / m.shared_by) AS split_cost
    FROM graphlet_members m
    SEMI JOIN gl_resplit r ON r.source_id = m.source_id AND r.graphlet_id = m.graphlet_id
    JOIN execution_costs c ON c.source_id = m.source_id AND c.execution_id = m.node_id
    WHERE m.node_kind = 'execution'
    GROUP BY ALL
) s
WHERE g.source_id = s.source_id AND g.graphlet_id = s.graphlet_id;

-- name: span_overlaps
-- |spans ∩ previous graphlet's spans| / |spans|, the previous graphlet being the one trained
-- before it in its pipeline: redone over every pipeline whose graphlets changed (gl_pipes).
UPDATE graphlets g SET span_overlap = o.span_overlap
FROM (
    SELECT source_id, graphlet_id,
           CASE WHEN window_size > 0 AND prev IS NOT NULL
                THEN len(list_intersect(input_spans, prev)) / window_size END AS span_overlap
    FROM (
        SELECT g.source_id, g.graphlet_id, g.window_size, g.input_spans,
               lag(CASE WHEN g.window_size > 0 THEN g.input_spans END) OVER (
                   PARTITION BY g.source_id, g.pipeline_id
                   ORDER BY g.train_time, g.graphlet_id) AS prev
        FROM graphlets g
        SEMI JOIN gl_pipes p ON p.source_id = g.source_id
                            AND p.pkey = coalesce(g.pipeline_id, -1)
    )
) o
WHERE g.source_id = o.source_id AND g.graphlet_id = o.graphlet_id
  AND g.span_overlap IS DISTINCT FROM o.span_overlap;

-- Planning: which pipelines a build covers, and in which batches.

-- name: scope_keys
-- gl_keys: the (source_id, pkey) of every pipeline, cut down to gl_wanted when names are given.
CREATE OR REPLACE TEMP TABLE gl_keys AS
SELECT DISTINCT source_id, coalesce(pipeline_id, -1) AS pkey FROM executions

-- name: keep_wanted
DELETE FROM gl_keys k
WHERE NOT EXISTS (SELECT 1 FROM gl_wanted w WHERE w.source_id = k.source_id AND w.pkey = k.pkey)

-- name: pipeline_names
SELECT source_id, pipeline_id AS pkey, name FROM pipelines

-- name: batches
-- Pipelines rebuilt whole (gl_full), in batches of about $batch_executions executions; the
-- executions they last saw are seen anew.
CREATE OR REPLACE TEMP TABLE gl_batches AS
SELECT f.source_id, f.pkey,
       (sum(n.n) OVER (ORDER BY f.source_id, f.pkey ROWS UNBOUNDED PRECEDING) - 1)
           // $batch_executions AS batch
FROM gl_full f
JOIN (SELECT source_id, pkey, count(*) AS n FROM gl_now GROUP BY ALL) n USING (source_id, pkey);

DELETE FROM graphlet_seen s
WHERE EXISTS (SELECT 1 FROM gl_full f WHERE f.source_id = s.source_id AND f.pkey = s.pipeline_key);

SELECT DISTINCT batch FROM gl_batches ORDER BY 1

-- name: batch_scope
CREATE OR REPLACE TEMP TABLE gl_scope AS SELECT source_id, pkey FROM gl_batches WHERE batch = $batch

-- name: part_scope
CREATE OR REPLACE TEMP TABLE gl_scope AS SELECT source_id, pkey FROM gl_part

-- name: built
-- How many pipelines the build covered, and how many of them whole.
SELECT (SELECT count(*) FROM gl_full) + (SELECT count(*) FROM gl_part), (SELECT count(*) FROM gl_full)

-- name: written
-- What one rebuild or refresh wrote: graphlets (pushed, in flight), removed ones, members.
SELECT count(*), count(*) FILTER (WHERE deployed), count(*) FILTER (WHERE in_flight),
       (SELECT count(*) FROM gl_drop d
        WHERE NOT EXISTS (SELECT 1 FROM gl_anchor a
                          WHERE a.source_id = d.source_id AND a.g = d.graphlet_id)),
       (SELECT count(*) FROM gl_mx) + (SELECT count(*) FROM gl_ma)
FROM graphlets g SEMI JOIN gl_anchor a ON a.source_id = g.source_id AND a.g = g.graphlet_id

-- name: temp_tables
SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, 'gl_')
