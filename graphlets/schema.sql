-- Model graphlets: the unit of analysis (study.md, "Model graphlet"). Written by
-- graphlets.build_graphlets; read by analysis/. Rebuilt per pipeline, idempotently.
--
-- Bump LAYOUT in graphlets/state.py together with any change here: the version row
-- ('layout' in graphlet_state) then makes every store rebuild these tables on first use.

-- key: (source_id, graphlet_id)
CREATE TABLE IF NOT EXISTS graphlets (
    source_id             INTEGER NOT NULL,
    graphlet_id           BIGINT NOT NULL,     -- = the anchoring training execution's id
    pipeline_id           BIGINT,
    trainer_execution_id  BIGINT NOT NULL,
    trainer_state         VARCHAR NOT NULL,    -- COMPLETE, FAILED, RUNNING, ...
    model_type            VARCHAR,             -- trainer property model_type, when recorded
    start_time            TIMESTAMP,           -- earliest member execution start
    train_time            TIMESTAMP,           -- trainer start: the pruning decision point
    end_time              TIMESTAMP,           -- latest member execution end
    deployed              BOOLEAN NOT NULL,    -- a deploy execution in it pushed (pushed = 1)
    in_flight             BOOLEAN NOT NULL,    -- trainer still RUNNING/NEW: not counted as waste
    push_time             TIMESTAMP,           -- when the push happened
    input_spans           BIGINT[],            -- spans of the Examples in its upstream, sorted
    window_size           INTEGER,             -- number of distinct input spans
    span_overlap          DOUBLE,              -- |spans ∩ previous graphlet's spans| / |spans|
    n_executions          INTEGER NOT NULL,
    n_artifacts           INTEGER NOT NULL,
    depth                 INTEGER,             -- longest execution path inside the graphlet
    own_cost              DOUBLE NOT NULL,     -- sum of member executions' costs
    split_cost            DOUBLE NOT NULL,     -- each shared execution's cost split equally
    cost_unit             VARCHAR NOT NULL,    -- see the execution_costs view
    blessed               BOOLEAN,             -- the validation verdict: NULL when none
    -- why it did not push (graphlets/build.sql, write_graphlets): pushed, in_flight,
    -- trainer_failed, cut_before_evaluation, not_blessed, push_failed or push_skipped.
    -- Analyses tell abandoned from in_flight as of a time (analysis/frames.sql).
    reason                VARCHAR NOT NULL
);

-- key: (source_id, graphlet_id, node_kind, node_id)
CREATE TABLE IF NOT EXISTS graphlet_members (
    source_id    INTEGER NOT NULL,
    graphlet_id  BIGINT NOT NULL,
    node_kind    VARCHAR NOT NULL,   -- 'execution' or 'artifact'
    node_id      BIGINT NOT NULL,
    role         VARCHAR NOT NULL,   -- upstream, anchor, downstream, side, boundary
    shared_by    INTEGER NOT NULL    -- how many graphlets contain this node
);

-- What the graphlets reflect, so that a refresh redoes only what new provenance can change
-- (graphlets/build.py). Derived data: a store whose graphlet_state lacks the current layout
-- drops and rebuilds every table of this file.

-- One row per key: layout (this file's version), rules (the GraphletRules of the last build,
-- as JSON), rules_hash, ingest_id (the latest ingest when the whole store was last current).
CREATE TABLE IF NOT EXISTS graphlet_state (
    key    VARCHAR NOT NULL,
    value  VARCHAR
);

-- key: (source_id, pipeline_key)
CREATE TABLE IF NOT EXISTS graphlet_builds (
    source_id       INTEGER NOT NULL,
    pipeline_key    BIGINT NOT NULL,    -- pipeline_id, or -1 for executions in no pipeline
    rules_hash      VARCHAR NOT NULL,   -- GraphletRules.digest() the graphlets were cut with
    source_hash     UBIGINT NOT NULL,   -- the source's reader, location and mapping
    n_executions    BIGINT NOT NULL,    -- the pipeline's executions at that build
    -- the source's latest execution / artifact update and largest ids at that build
    executions_seen   TIMESTAMP,
    executions_max_id BIGINT,
    artifacts_seen    TIMESTAMP,
    artifacts_max_id  BIGINT
);

-- Each execution as the graphlets saw it. key: (source_id, execution_id)
CREATE TABLE IF NOT EXISTS graphlet_seen (
    source_id     INTEGER NOT NULL,
    execution_id  BIGINT NOT NULL,
    pipeline_key  BIGINT NOT NULL,
    shape         UBIGINT NOT NULL,   -- hash of start time, category, component: edges depend on it
    state         UBIGINT NOT NULL,   -- hash of state, end time, cost, model type
    n_events      INTEGER NOT NULL,   -- its events (append-only in the canonical store)
    feeds         BOOLEAN NOT NULL    -- has a causal path into a training execution
);
