-- Named queries of a graphlet refresh (graphlets/build.py): what changed since the graphlets
-- last saw the store, which graphlets that can change, and the part of the provenance graph
-- their rebuild must read. Parameters come from GraphletRules.
--
-- Why this is exact. A graphlet is a function of the walks from its trainer: every edge they
-- follow or refuse goes through an artifact of a member execution, and every attribute they
-- test (causality, boundary, cache hits, newest model, push) is an attribute of a member or
-- of an execution with an event on a member artifact. The canonical store's events are
-- append-only and every changed or new node is re-read by ingest, so a graphlet none of
-- whose members is near a change comes out of a full rebuild as it is. The cases:
--   * a changed member execution (a RUNNING trainer completes, a cost arrives): redo it
--   * a new or changed producer of a member artifact (a cache hit re-publishing an old
--     model or push): redo it
--   * a new consumer of an artifact a member anchor, downstream or side execution wrote
--     (an Evaluator of an old model): it may join downstream: redo it
--   * a new consumer that feeds no trainer and reads only the graphlet's artifacts: it joins
--     as a side branch: redo it
--   * an old side execution that now feeds a trainer through new work leaves: redo it
--   * an artifact updated in place (span, create time, push flag): redo the graphlets
--     holding it or an execution with an event on it
--   * new training executions anchor new graphlets.
-- Changes that move edges of old executions (start time, category, component, pipeline,
-- lost events) rebuild their pipelines whole.

-- name: usable_builds
-- Pipelines in scope whose last build can be refreshed: same rules, same source mapping.
CREATE OR REPLACE TEMP TABLE gl_usable AS
SELECT b.* FROM graphlet_builds b
JOIN (SELECT source_id, hash(kind, location, convention, mapping_hash, cost_property) AS h
      FROM sources) s ON s.source_id = b.source_id
SEMI JOIN gl_keys k ON k.source_id = b.source_id AND k.pkey = b.pipeline_key
WHERE $incremental AND b.rules_hash = $rules_hash AND b.source_hash = s.h;

-- Executions to look at: all of a pipeline without a usable build, and elsewhere those an
-- ingest may have written since: new ids, or an update time at or past the latest the build
-- saw (ingest re-reads a node only when its update time reached its watermark).
CREATE OR REPLACE TEMP TABLE gl_pick AS
SELECT x.source_id, x.execution_id AS x FROM executions x
LEFT JOIN gl_usable b ON b.source_id = x.source_id
                     AND b.pipeline_key = coalesce(x.pipeline_id, -1)
WHERE EXISTS (SELECT 1 FROM gl_keys k WHERE k.source_id = x.source_id
              AND k.pkey = coalesce(x.pipeline_id, -1))
  AND (b.source_id IS NULL OR x.execution_id > b.executions_max_id
       OR x.end_time >= b.executions_seen);

CREATE OR REPLACE TEMP TABLE gl_now (source_id INTEGER, x BIGINT, pkey BIGINT,
                                     shape UBIGINT, state UBIGINT);

-- name: observe
-- The executions of gl_pick as a graphlet sees them, added to gl_now.
INSERT INTO gl_now
WITH model_types AS (
    SELECT p.source_id, p.execution_id, min(p.string_value) AS model_type
    FROM execution_properties p
    SEMI JOIN gl_pick k ON k.source_id = p.source_id AND k.x = p.execution_id
    WHERE p.name = 'model_type' GROUP BY ALL
)
SELECT x.source_id, x.execution_id, coalesce(x.pipeline_id, -1),
       hash(x.start_time, x.category, x.component),
       hash(x.state, x.end_time, x.cost, x.duration_s, s.cost_property, mt.model_type)
FROM executions x
JOIN sources s ON s.source_id = x.source_id
LEFT JOIN model_types mt ON mt.source_id = x.source_id AND mt.execution_id = x.execution_id
SEMI JOIN gl_pick k ON k.source_id = x.source_id AND k.x = x.execution_id
WHERE NOT EXISTS (SELECT 1 FROM gl_now n WHERE n.source_id = x.source_id
                  AND n.x = x.execution_id);

-- name: changes
-- Executions looked at that are new or changed since graphlet_seen, with their events now.
-- structural: the change moves edges (see the top of this file).
CREATE OR REPLACE TEMP TABLE gl_changed AS
SELECT n.source_id, n.x, n.pkey, s.pipeline_key AS old_pkey, s.n_events AS old_events,
       s.execution_id IS NOT NULL AND (n.pkey <> s.pipeline_key OR n.shape <> s.shape)
           AS structural
FROM gl_now n
LEFT JOIN graphlet_seen s ON s.source_id = n.source_id AND s.execution_id = n.x
WHERE s.execution_id IS NULL OR n.state <> s.state OR n.shape <> s.shape
   OR n.pkey <> s.pipeline_key;

CREATE OR REPLACE TEMP TABLE gl_event_counts AS
SELECT e.source_id, e.execution_id AS x, count(*) AS n
FROM events e
SEMI JOIN gl_changed c ON c.source_id = e.source_id AND c.x = e.execution_id
GROUP BY ALL;

-- name: uncounted_events
-- Sources whose events do not add up to what graphlet_seen holds plus the changed
-- executions' events now: some unchanged execution gained events.
SELECT t.source_id
FROM (SELECT source_id, count(*) AS n FROM events e
      SEMI JOIN gl_keys k ON k.source_id = e.source_id
      GROUP BY ALL) t
LEFT JOIN (SELECT s.source_id, sum(s.n_events) AS n FROM graphlet_seen s
           ANTI JOIN gl_changed c ON c.source_id = s.source_id AND c.x = s.execution_id
           GROUP BY ALL) kept ON kept.source_id = t.source_id
LEFT JOIN (SELECT source_id, sum(n) AS n FROM gl_event_counts GROUP BY ALL) now
       ON now.source_id = t.source_id
WHERE t.n <> coalesce(kept.n, 0) + coalesce(now.n, 0);

-- name: count_all_events
-- The slow path of uncounted_events: compare every execution's events of those sources.
CREATE OR REPLACE TEMP TABLE gl_pick AS
SELECT s.source_id, s.execution_id AS x
FROM graphlet_seen s
LEFT JOIN (SELECT source_id, execution_id, count(*) AS n FROM events
           WHERE list_contains($sources, source_id) GROUP BY ALL) e
       ON e.source_id = s.source_id AND e.execution_id = s.execution_id
WHERE list_contains($sources, s.source_id) AND coalesce(e.n, 0) <> s.n_events
  AND NOT EXISTS (SELECT 1 FROM gl_changed c
                  WHERE c.source_id = s.source_id AND c.x = s.execution_id);

-- name: changed_by_events
INSERT INTO gl_changed
SELECT n.source_id, n.x, n.pkey, s.pipeline_key, s.n_events,
       n.pkey <> s.pipeline_key OR n.shape <> s.shape
FROM gl_now n
JOIN graphlet_seen s ON s.source_id = n.source_id AND s.execution_id = n.x
SEMI JOIN gl_pick k ON k.source_id = n.source_id AND k.x = n.x;

INSERT INTO gl_event_counts
SELECT e.source_id, e.execution_id, count(*) FROM events e
SEMI JOIN gl_pick k ON k.source_id = e.source_id AND k.x = e.execution_id
GROUP BY ALL;

-- name: changed_artifacts
-- Artifacts updated in place since their pipeline's last build, with the executions that
-- have events on them. Ingest re-reads a node only when its update time reached the last
-- read's latest, so nothing older changed (an update within the very millisecond of the
-- latest update the build saw is the one blind spot, as it would be for any watermark).
CREATE OR REPLACE TEMP TABLE gl_art_changed AS
WITH since AS (
    SELECT source_id, min(artifacts_seen) AS seen, max(artifacts_max_id) AS max_id
    FROM gl_usable GROUP BY ALL
), fresh AS (     -- new artifacts count through the events of the executions they touch
    SELECT a.source_id, a.artifact_id AS a, a.update_time
    FROM artifacts a JOIN since s ON s.source_id = a.source_id
    WHERE a.update_time > s.seen AND a.artifact_id <= s.max_id
)
SELECT DISTINCT f.source_id, b.pipeline_key AS pkey, f.a, e.execution_id AS x
FROM fresh f
JOIN events e ON e.source_id = f.source_id AND e.artifact_id = f.a
JOIN executions x ON x.source_id = e.source_id AND x.execution_id = e.execution_id
JOIN gl_usable b ON b.source_id = x.source_id AND b.pipeline_key = coalesce(x.pipeline_id, -1)
WHERE f.update_time > b.artifacts_seen AND f.a <= b.artifacts_max_id;

-- name: plan
-- Pipelines rebuilt whole (built under other rules or another mapping, structurally changed,
-- of a source never built, or all when not incremental), and pipelines refreshed in part
-- (the rest with a change).
CREATE OR REPLACE TEMP TABLE gl_full AS
WITH counts AS (
    SELECT x.source_id, coalesce(x.pipeline_id, -1) AS pkey, count(*) AS n FROM executions x
    SEMI JOIN gl_usable b ON b.source_id = x.source_id
                         AND b.pipeline_key = coalesce(x.pipeline_id, -1)
    GROUP BY ALL
), arrived AS (
    SELECT source_id, pkey, count(*) AS n FROM gl_changed WHERE old_pkey IS NULL GROUP BY ALL
)
SELECT k.source_id, k.pkey FROM gl_keys k
LEFT JOIN gl_usable b ON b.source_id = k.source_id AND b.pipeline_key = k.pkey
LEFT JOIN counts c ON c.source_id = k.source_id AND c.pkey = k.pkey
LEFT JOIN arrived a ON a.source_id = k.source_id AND a.pkey = k.pkey
WHERE (b.source_id IS NULL
       -- a new pipeline of a source already built is refreshed in part (all of it is new)
       AND (EXISTS (SELECT 1 FROM graphlet_builds o WHERE o.source_id = k.source_id
                    AND o.pipeline_key = k.pkey)
            OR NOT EXISTS (SELECT 1 FROM gl_usable u WHERE u.source_id = k.source_id)))
   -- executions that left or joined without being re-read (an association added later)
   OR coalesce(c.n, 0) <> b.n_executions + coalesce(a.n, 0)
   OR EXISTS (SELECT 1 FROM gl_changed c LEFT JOIN gl_event_counts e USING (source_id, x)
              WHERE c.source_id = k.source_id AND k.pkey IN (c.pkey, c.old_pkey)
                AND (c.structural OR coalesce(e.n, 0) < c.old_events));

CREATE OR REPLACE TEMP TABLE gl_part AS
SELECT DISTINCT source_id, pkey FROM (
    SELECT source_id, pkey FROM gl_changed
    UNION ALL SELECT source_id, pkey FROM gl_art_changed
) c
WHERE NOT EXISTS (SELECT 1 FROM gl_full f WHERE f.source_id = c.source_id AND f.pkey = c.pkey);

-- Changed executions of the pipelines refreshed in part.
CREATE OR REPLACE TEMP TABLE gl_d AS
SELECT c.source_id, c.pkey, c.x FROM gl_changed c
SEMI JOIN gl_part p ON p.source_id = c.source_id AND p.pkey = c.pkey;

-- name: pick_whole
-- Every execution of the pipelines rebuilt whole, for observe.
CREATE OR REPLACE TEMP TABLE gl_pick AS
SELECT x.source_id, x.execution_id AS x FROM executions x
SEMI JOIN gl_full f ON f.source_id = x.source_id AND f.pkey = coalesce(x.pipeline_id, -1);

-- name: feeds_start
-- Which executions may have started to feed a trainer: the changed ones, and, walking
-- upstream along causal edges, executions that did not feed one before (one that did still
-- does: edges are only added).
CREATE OR REPLACE TEMP TABLE gl_cf AS SELECT source_id, pkey, x FROM gl_d;
CREATE OR REPLACE TEMP TABLE gl_cf_front AS SELECT source_id, pkey, x FROM gl_d;

-- name: feeds_step
CREATE OR REPLACE TEMP TABLE gl_cf_front AS
WITH inputs AS (
    SELECT f.source_id, f.pkey, e.artifact_id AS a, x.start_time AS t
    FROM gl_cf_front f
    JOIN events e ON e.source_id = f.source_id AND e.execution_id = f.x
    JOIN executions x ON x.source_id = f.source_id AND x.execution_id = f.x
    WHERE list_contains($consuming_events, e.type)
)
SELECT DISTINCT i.source_id, i.pkey, p.execution_id AS x
FROM inputs i
JOIN events p ON p.source_id = i.source_id AND p.artifact_id = i.a
JOIN executions px ON px.source_id = p.source_id AND px.execution_id = p.execution_id
JOIN graphlet_seen s ON s.source_id = p.source_id AND s.execution_id = p.execution_id
WHERE list_contains($producing_events, p.type) AND coalesce(px.pipeline_id, -1) = i.pkey
  AND NOT s.feeds
  AND (NOT $causal_producers OR px.start_time IS NULL OR i.t IS NULL OR px.start_time <= i.t)
  AND NOT EXISTS (SELECT 1 FROM gl_cf c WHERE c.source_id = p.source_id
                  AND c.x = p.execution_id);

INSERT INTO gl_cf SELECT * FROM gl_cf_front;

-- name: feeds_update
-- Causal edges out of those executions, and which of them feed a trainer now. gl_nf: the
-- executions that started to (they leave the side branches they were in).
CREATE OR REPLACE TEMP TABLE gl_cf_edge AS
SELECT DISTINCT c.source_id, c.x AS p, o.execution_id AS c,
       cx.category = $anchor_category OR (k.x IS NULL AND coalesce(s.feeds, false)) AS seed
FROM gl_cf c
JOIN executions px ON px.source_id = c.source_id AND px.execution_id = c.x
JOIN events e ON e.source_id = c.source_id AND e.execution_id = c.x
JOIN events o ON o.source_id = e.source_id AND o.artifact_id = e.artifact_id
JOIN executions cx ON cx.source_id = o.source_id AND cx.execution_id = o.execution_id
LEFT JOIN graphlet_seen s ON s.source_id = cx.source_id AND s.execution_id = cx.execution_id
LEFT JOIN gl_cf k ON k.source_id = cx.source_id AND k.x = cx.execution_id
WHERE list_contains($producing_events, e.type) AND list_contains($consuming_events, o.type)
  AND o.execution_id <> c.x AND coalesce(cx.pipeline_id, -1) = c.pkey
  AND (NOT $causal_producers OR px.start_time IS NULL OR cx.start_time IS NULL
       OR px.start_time <= cx.start_time);

CREATE OR REPLACE TEMP TABLE gl_cf_seed AS
SELECT source_id, p AS x FROM gl_cf_edge WHERE seed
UNION
SELECT c.source_id, c.x FROM gl_cf c
JOIN graphlet_seen s ON s.source_id = c.source_id AND s.execution_id = c.x
WHERE s.feeds;

CREATE OR REPLACE TEMP TABLE gl_feeding AS
WITH RECURSIVE f(source_id, x) AS (
    SELECT source_id, x FROM gl_cf_seed
    UNION
    SELECT e.source_id, e.p FROM f JOIN gl_cf_edge e ON e.source_id = f.source_id AND e.c = f.x
)
SELECT DISTINCT * FROM f;

CREATE OR REPLACE TEMP TABLE gl_nf AS
SELECT s.source_id, s.execution_id AS x FROM graphlet_seen s
SEMI JOIN gl_feeding f ON f.source_id = s.source_id AND f.x = s.execution_id
WHERE NOT s.feeds;

-- name: affected
-- The graphlets that can change (see the top of this file), and the anchors to walk from.
CREATE OR REPLACE TEMP TABLE gl_d_events AS
SELECT e.source_id, d.pkey, e.execution_id AS x, e.artifact_id AS a,
       list_contains($producing_events, e.type) AS produced,
       list_contains($consuming_events, e.type) AS consumed
FROM events e JOIN gl_d d ON d.source_id = e.source_id AND d.x = e.execution_id;

CREATE OR REPLACE TEMP TABLE gl_hit_x AS
SELECT source_id, x FROM gl_d
UNION SELECT source_id, x FROM gl_nf
UNION SELECT source_id, x FROM gl_art_changed;

-- (an updated artifact's consumers may now read a newer model: every input of theirs counts)
CREATE OR REPLACE TEMP TABLE gl_hit_a AS
SELECT source_id, a FROM gl_d_events WHERE produced
UNION SELECT source_id, a FROM gl_art_changed
UNION SELECT e.source_id, e.artifact_id FROM events e
      SEMI JOIN gl_art_changed c ON c.source_id = e.source_id AND c.x = e.execution_id
      WHERE list_contains($consuming_events, e.type);

-- changed consumers that may join as side branches, with how many inputs they have
CREATE OR REPLACE TEMP TABLE gl_d_cand AS
SELECT d.source_id, d.x, count(DISTINCT d.a) AS n_in
FROM gl_d_events d
JOIN executions x ON x.source_id = d.source_id AND x.execution_id = d.x
WHERE d.consumed AND NOT ($exclude_other_trainers AND x.category = $anchor_category)
  AND NOT EXISTS (SELECT 1 FROM gl_feeding f WHERE f.source_id = d.source_id AND f.x = d.x)
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE gl_affected AS
WITH members AS (
    SELECT * FROM graphlet_members m
    SEMI JOIN (SELECT source_id, a AS node, 'artifact' AS kind FROM gl_d_events
               UNION SELECT source_id, a, 'artifact' FROM gl_hit_a
               UNION SELECT source_id, x, 'execution' FROM gl_hit_x) h
           ON h.source_id = m.source_id AND h.node = m.node_id AND h.kind = m.node_kind
), direct AS (
    SELECT m.source_id, m.graphlet_id FROM members m
    WHERE (m.node_kind = 'execution'
           AND EXISTS (SELECT 1 FROM gl_hit_x h WHERE h.source_id = m.source_id
                       AND h.x = m.node_id))
       OR (m.node_kind = 'artifact'
           AND EXISTS (SELECT 1 FROM gl_hit_a h WHERE h.source_id = m.source_id
                       AND h.a = m.node_id))
), downstream AS (   -- a changed consumer of an artifact the graphlet's later work wrote
    SELECT m.source_id, m.graphlet_id
    FROM members m
    JOIN gl_d_events d ON d.source_id = m.source_id AND d.a = m.node_id AND d.consumed
    JOIN events e ON e.source_id = m.source_id AND e.artifact_id = m.node_id
    JOIN graphlet_members w ON w.source_id = m.source_id AND w.graphlet_id = m.graphlet_id
                           AND w.node_kind = 'execution' AND w.node_id = e.execution_id
    WHERE m.node_kind = 'artifact' AND list_contains($producing_events, e.type)
      AND w.role IN ('anchor', 'downstream', 'side')
), side AS (         -- a changed candidate all of whose inputs the graphlet holds
    SELECT m.source_id, m.graphlet_id
    FROM members m
    JOIN gl_d_events d ON d.source_id = m.source_id AND d.a = m.node_id AND d.consumed
    JOIN gl_d_cand c ON c.source_id = d.source_id AND c.x = d.x
    WHERE m.node_kind = 'artifact' AND m.role <> 'boundary'
    GROUP BY m.source_id, m.graphlet_id, c.x, c.n_in
    HAVING count(DISTINCT m.node_id) = c.n_in
)
SELECT DISTINCT a.source_id, a.graphlet_id, coalesce(g.pipeline_id, -1) AS pkey
FROM (SELECT * FROM direct UNION SELECT * FROM downstream UNION SELECT * FROM side) a
JOIN graphlets g ON g.source_id = a.source_id AND g.graphlet_id = a.graphlet_id
SEMI JOIN gl_part p ON p.source_id = g.source_id AND p.pkey = coalesce(g.pipeline_id, -1);

CREATE OR REPLACE TEMP TABLE gl_drop AS SELECT source_id, graphlet_id, pkey FROM gl_affected;

-- Anchors: the redone graphlets whose trainer still anchors one, and new trainers.
CREATE OR REPLACE TEMP TABLE gl_anchor AS
SELECT x.source_id, coalesce(x.pipeline_id, -1) AS pkey, x.execution_id AS g
FROM executions x
SEMI JOIN (SELECT source_id, graphlet_id AS x FROM gl_affected
           UNION SELECT source_id, x FROM gl_d) c
       ON c.source_id = x.source_id AND c.x = x.execution_id
WHERE x.category = $anchor_category AND NOT list_contains($non_anchor_components, x.component)
  AND x.state <> 'CACHED';

-- name: see_part
-- What the refreshed pipelines' graphlets now reflect, for the executions looked at.
CREATE OR REPLACE TEMP TABLE gl_seen_new AS
SELECT c.source_id, c.x AS execution_id, coalesce(n.pkey, s.pipeline_key) AS pipeline_key,
       coalesce(n.shape, s.shape) AS shape, coalesce(n.state, s.state) AS state,
       coalesce(e.n, s.n_events, 0) AS n_events, f.x IS NOT NULL AS feeds
FROM gl_cf c
LEFT JOIN gl_now n ON n.source_id = c.source_id AND n.x = c.x
LEFT JOIN gl_event_counts e ON e.source_id = c.source_id AND e.x = c.x
LEFT JOIN graphlet_seen s ON s.source_id = c.source_id AND s.execution_id = c.x
LEFT JOIN gl_feeding f ON f.source_id = c.source_id AND f.x = c.x;

DELETE FROM graphlet_seen s
WHERE EXISTS (SELECT 1 FROM gl_seen_new n
              WHERE n.source_id = s.source_id AND n.execution_id = s.execution_id);

INSERT INTO graphlet_seen SELECT * FROM gl_seen_new ORDER BY source_id, execution_id;

CREATE OR REPLACE TEMP TABLE gl_pipes AS SELECT source_id, pkey FROM gl_part;

-- name: discover_start
-- The region a rebuild from gl_anchor reads: every execution its walks can reach (a superset:
-- the walks' finer tests are left to the build) and every execution with an event on an
-- artifact of those, so that boundaries, cache hits, newest models and pushes are judged on
-- all of an artifact's producers and consumers. up: expand inputs to their producers. down:
-- outputs to their consumers. side: consumers that feed no trainer, and their outputs.
CREATE OR REPLACE TEMP TABLE gl_region AS SELECT DISTINCT source_id, pkey, g AS x FROM gl_anchor;
CREATE OR REPLACE TEMP TABLE gl_walk AS
SELECT DISTINCT source_id, pkey, g AS x, dir FROM gl_anchor, (VALUES ('up'), ('down')) d(dir);
CREATE OR REPLACE TEMP TABLE gl_front AS SELECT * FROM gl_walk;
CREATE OR REPLACE TEMP TABLE gl_walk_art AS
SELECT source_id, pkey, 0::BIGINT AS a, 'none' AS dir FROM gl_anchor WHERE false;

-- name: discover_step
-- Artifacts of the frontier, tagged with the walk that continues from them.
CREATE OR REPLACE TEMP TABLE gl_front_art AS
SELECT DISTINCT f.source_id, f.pkey, e.artifact_id AS a,
       CASE WHEN f.dir = 'up' AND list_contains($consuming_events, e.type)
                 AND x.category <> 'ingest' THEN 'up'
            WHEN f.dir <> 'up' AND list_contains($producing_events, e.type) THEN f.dir
            ELSE 'none' END AS dir
FROM gl_front f
JOIN events e ON e.source_id = f.source_id AND e.execution_id = f.x
JOIN executions x ON x.source_id = f.source_id AND x.execution_id = f.x
EXCEPT SELECT * FROM gl_walk_art;

INSERT INTO gl_walk_art SELECT * FROM gl_front_art;

-- Every execution with an event on them: the neighbours.
CREATE OR REPLACE TEMP TABLE gl_front_nb AS
SELECT f.source_id, f.pkey, f.a, f.dir, e.execution_id AS x,
       list_contains($producing_events, e.type) AS produced,
       list_contains($consuming_events, e.type) AS consumed,
       x.category = $anchor_category AS train_cat,
       x.category = $anchor_category
           AND NOT list_contains($non_anchor_components, x.component) AS trainer,
       coalesce(s.feeds, false) AS feeds
FROM gl_front_art f
JOIN events e ON e.source_id = f.source_id AND e.artifact_id = f.a
JOIN executions x ON x.source_id = e.source_id AND x.execution_id = e.execution_id
LEFT JOIN graphlet_seen s ON s.source_id = e.source_id AND s.execution_id = e.execution_id
WHERE coalesce(x.pipeline_id, -1) = f.pkey;

INSERT INTO gl_region
SELECT DISTINCT source_id, pkey, x FROM gl_front_nb
EXCEPT SELECT * FROM gl_region;

-- The next frontier.
CREATE OR REPLACE TEMP TABLE gl_front AS
SELECT DISTINCT source_id, pkey, x, dir FROM (
    SELECT n.source_id, n.pkey, n.x, 'up' AS dir FROM gl_front_nb n
    WHERE n.dir = 'up' AND n.produced
      AND NOT ($stop_at_warm_start_models AND EXISTS (
          SELECT 1 FROM gl_front_nb t WHERE t.source_id = n.source_id AND t.a = n.a
          AND t.produced AND t.trainer))
    UNION ALL
    SELECT source_id, pkey, x, 'down' FROM gl_front_nb
    WHERE dir = 'down' AND consumed AND NOT ($exclude_other_trainers AND train_cat)
    UNION ALL
    SELECT source_id, pkey, x, 'side' FROM gl_front_nb
    WHERE dir <> 'none' AND consumed AND NOT feeds
      AND NOT ($exclude_other_trainers AND train_cat)
)
EXCEPT SELECT * FROM gl_walk;

INSERT INTO gl_walk SELECT * FROM gl_front;
