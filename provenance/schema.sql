-- mlprov canonical provenance store.
--
-- The contract between ingest and everything above it: ingestors write these tables, the
-- graphlet builder and the analyses read them. Every row keeps the source it came from
-- (source_id) and the id the source gave it, so any figure can be traced back to the store.
-- Times are UTC timestamps; durations are seconds. Data tables state their key in a comment;
-- ingest keeps keys unique (DuckDB index upkeep would halve bulk-load speed).
--
-- Bump SCHEMA_VERSION in provenance/store.py together with any change here.

CREATE TABLE mlprov_meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- One row per provenance source ever ingested (an MLMD file, server or database).
CREATE TABLE sources (
    source_id      INTEGER PRIMARY KEY,
    kind           VARCHAR NOT NULL,         -- reader: 'mlmd_sql', 'mlmd_server', 'mlmd_client'
    location       VARCHAR NOT NULL UNIQUE,  -- absolute path or URL, without credentials
    convention     VARCHAR NOT NULL,         -- 'tfx', 'tfx_legacy', 'kfp'
    mapping_hash   VARCHAR NOT NULL,         -- the category mapping its rows were classified with
    cost_property  VARCHAR,                  -- execution property read into executions.cost
    deploy_rule    JSON                      -- the mapping's [deploy] table, for graphlet builds
);

-- Integer ids given to a source's text ids (run UUIDs, ...), stable across ingests.
CREATE TABLE source_ids (
    source_id    INTEGER NOT NULL,
    space        VARCHAR NOT NULL,   -- kind of id, e.g. 'run'
    external_id  VARCHAR NOT NULL,
    id           BIGINT NOT NULL,
    PRIMARY KEY (source_id, space, external_id)
);

-- One row per committed ingest; report holds the load report as JSON.
CREATE TABLE ingest_runs (
    ingest_id    INTEGER PRIMARY KEY,
    source_id    INTEGER NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NOT NULL,
    rows_read    BIGINT NOT NULL,
    report       JSON NOT NULL
);

-- How far each source table has been read, for incremental ingest.
CREATE TABLE watermarks (
    source_id      INTEGER NOT NULL,
    source_table   VARCHAR NOT NULL,
    max_id         BIGINT,   -- largest id read
    max_update_ms  BIGINT,   -- largest last-update time read (ms since epoch)
    PRIMARY KEY (source_id, source_table)
);

-- key: (source_id, pipeline_id)
CREATE TABLE pipelines (
    source_id    INTEGER NOT NULL,
    pipeline_id  BIGINT NOT NULL,     -- the pipeline context's id in the source
    name         VARCHAR NOT NULL
);

-- key: (source_id, run_id)
CREATE TABLE pipeline_runs (
    source_id    INTEGER NOT NULL,
    run_id       BIGINT NOT NULL,     -- the run context's id in the source
    pipeline_id  BIGINT,
    name         VARCHAR NOT NULL,
    create_time  TIMESTAMP
);

-- key: (source_id, execution_id)
CREATE TABLE executions (
    source_id     INTEGER NOT NULL,
    execution_id  BIGINT NOT NULL,
    pipeline_id   BIGINT,             -- NULL when the execution belongs to no pipeline context
    run_id        BIGINT,             -- NULL in asynchronous pipelines
    type_name     VARCHAR NOT NULL,   -- e.g. tfx.components.trainer.component.Trainer
    component     VARCHAR NOT NULL,   -- class name (TFX) or task name (KFP), e.g. Trainer
    node          VARCHAR,            -- the pipeline node it ran as, e.g. Trainer or Trainer.cloud
    category      VARCHAR NOT NULL,   -- ingest, data_validation, transform, train,
                                      -- model_validation, deploy, other
    state         VARCHAR NOT NULL,   -- UNKNOWN NEW RUNNING COMPLETE FAILED CACHED CANCELED
    name          VARCHAR,
    start_time    TIMESTAMP,          -- create time
    end_time      TIMESTAMP,          -- last update time
    duration_s    DOUBLE,             -- end - start, seconds
    cost          DOUBLE              -- the source's cost property, when named and present
);

-- key: (source_id, artifact_id)
CREATE TABLE artifacts (
    source_id     INTEGER NOT NULL,
    artifact_id   BIGINT NOT NULL,
    type_name     VARCHAR NOT NULL,   -- e.g. Examples, Model, PushedModel
    uri           VARCHAR,
    state         VARCHAR NOT NULL,   -- UNKNOWN PENDING LIVE MARKED_FOR_DELETION DELETED
                                      -- ABANDONED REFERENCE
    name          VARCHAR,
    create_time   TIMESTAMP,
    update_time   TIMESTAMP,
    span          BIGINT,             -- TFX span property, when present
    version       BIGINT              -- TFX version property, when present
);

-- One row per (execution, artifact, event type): MLMD keeps these unique.
-- key: (source_id, execution_id, artifact_id, type)
CREATE TABLE events (
    source_id     INTEGER NOT NULL,
    execution_id  BIGINT NOT NULL,
    artifact_id   BIGINT NOT NULL,
    type          VARCHAR NOT NULL,   -- INPUT OUTPUT INTERNAL_INPUT INTERNAL_OUTPUT
                                      -- DECLARED_INPUT DECLARED_OUTPUT PENDING_OUTPUT UNKNOWN
    direction     VARCHAR NOT NULL,   -- 'input', 'output' (of the execution) or 'unknown'
    key           VARCHAR,            -- input/output key, e.g. examples, model, baseline_model
    idx           INTEGER,            -- position under that key
    time          TIMESTAMP
);

-- key: (source_id, context_id)
CREATE TABLE contexts (
    source_id    INTEGER NOT NULL,
    context_id   BIGINT NOT NULL,
    type_name    VARCHAR NOT NULL,    -- e.g. pipeline, pipeline_run, node, system.PipelineRun
    name         VARCHAR NOT NULL,
    create_time  TIMESTAMP,
    update_time  TIMESTAMP
);

-- key: (source_id, context_id, execution_id)
CREATE TABLE context_executions (      -- MLMD Association
    source_id     INTEGER NOT NULL,
    context_id    BIGINT NOT NULL,
    execution_id  BIGINT NOT NULL
);

-- key: (source_id, context_id, artifact_id)
CREATE TABLE context_artifacts (       -- MLMD Attribution
    source_id    INTEGER NOT NULL,
    context_id   BIGINT NOT NULL,
    artifact_id  BIGINT NOT NULL
);

-- key: (source_id, context_id, parent_context_id)
CREATE TABLE context_parents (         -- MLMD ParentContext
    source_id          INTEGER NOT NULL,
    context_id         BIGINT NOT NULL,
    parent_context_id  BIGINT NOT NULL
);

-- Properties, one typed value each: exactly one of the value columns is set.
-- key: (source_id, execution_id, name, is_custom)
CREATE TABLE execution_properties (
    source_id     INTEGER NOT NULL,
    execution_id  BIGINT NOT NULL,
    name          VARCHAR NOT NULL,
    is_custom     BOOLEAN NOT NULL,
    int_value     BIGINT,
    double_value  DOUBLE,
    string_value  VARCHAR,
    bool_value    BOOLEAN
);

-- key: (source_id, artifact_id, name, is_custom)
CREATE TABLE artifact_properties (
    source_id     INTEGER NOT NULL,
    artifact_id   BIGINT NOT NULL,
    name          VARCHAR NOT NULL,
    is_custom     BOOLEAN NOT NULL,
    int_value     BIGINT,
    double_value  DOUBLE,
    string_value  VARCHAR,
    bool_value    BOOLEAN
);

-- key: (source_id, context_id, name, is_custom)
CREATE TABLE context_properties (
    source_id     INTEGER NOT NULL,
    context_id    BIGINT NOT NULL,
    name          VARCHAR NOT NULL,
    is_custom     BOOLEAN NOT NULL,
    int_value     BIGINT,
    double_value  DOUBLE,
    string_value  VARCHAR,
    bool_value    BOOLEAN
);

-- The cost of each execution as study.md fixes it: the source's cost property when present,
-- else its duration in seconds; cache hits cost nothing. cost_unit names what the figure is.
CREATE VIEW execution_costs AS
SELECT x.source_id, x.execution_id,
       CASE WHEN x.state = 'CACHED' THEN 0.0
            ELSE coalesce(x.cost, x.duration_s, 0.0) END AS cost,
       CASE WHEN x.cost IS NOT NULL THEN s.cost_property ELSE 'seconds' END AS cost_unit
FROM executions x JOIN sources s USING (source_id);

-- Payloads: what the files of statistics, schema and anomalies artifacts hold
-- (provenance/payloads.py reads them with tensorflow-metadata's protos).

-- One row per payload artifact looked at: whether its files were read, and if not, why.
-- key: (source_id, artifact_id)
CREATE TABLE payload_reads (
    source_id    INTEGER NOT NULL,
    artifact_id  BIGINT NOT NULL,
    kind         VARCHAR NOT NULL,   -- statistics, schema, anomalies
    uri          VARCHAR NOT NULL,   -- where it was looked for (after any prefix rewrite)
    status       VARCHAR NOT NULL,   -- read, missing, unreadable, corrupt, oversize, unsupported
    detail       VARCHAR,            -- the first problem, for a status other than read
    files        INTEGER NOT NULL,   -- payload files read
    bytes        BIGINT NOT NULL
);

-- Per statistics artifact, split and feature (a TFDV FeatureNameStatistics).
-- key: (source_id, artifact_id, split, feature)
CREATE TABLE feature_stats (
    source_id      INTEGER NOT NULL,
    artifact_id    BIGINT NOT NULL,
    split          VARCHAR NOT NULL,   -- e.g. train, eval
    feature        VARCHAR NOT NULL,   -- name, or path steps joined by '.'
    type           VARCHAR NOT NULL,   -- INT FLOAT STRING BYTES STRUCT
    num_examples   BIGINT,             -- examples in the split
    num_present    DOUBLE,             -- examples holding the feature
    num_missing    DOUBLE,
    mean           DOUBLE,             -- numeric features
    std            DOUBLE,
    min            DOUBLE,
    max            DOUBLE,
    median         DOUBLE,
    num_zeros      DOUBLE,
    num_nan        DOUBLE,             -- NaN values (standard histogram)
    quantiles      DOUBLE[],           -- boundaries of the quantiles histogram, low to high
    unique_values  BIGINT,             -- categorical features
    top_values     STRUCT(value VARCHAR, count DOUBLE)[]
);

-- The histograms drift is computed on: numeric 'standard' and 'quantiles' buckets (low, high),
-- categorical 'rank' buckets (label).
-- key: (source_id, artifact_id, split, feature, histogram, bucket)
CREATE TABLE feature_buckets (
    source_id    INTEGER NOT NULL,
    artifact_id  BIGINT NOT NULL,
    split        VARCHAR NOT NULL,
    feature      VARCHAR NOT NULL,
    histogram    VARCHAR NOT NULL,   -- standard, quantiles, rank
    bucket       INTEGER NOT NULL,   -- position in the histogram
    low          DOUBLE,
    high         DOUBLE,
    label        VARCHAR,
    count        DOUBLE NOT NULL
);

-- Per schema artifact: a fingerprint of its features (same features, types and domains: same
-- fingerprint). key: (source_id, artifact_id)
CREATE TABLE schemas (
    source_id    INTEGER NOT NULL,
    artifact_id  BIGINT NOT NULL,
    fingerprint  VARCHAR NOT NULL,
    features     INTEGER NOT NULL
);

-- key: (source_id, artifact_id, feature)
CREATE TABLE schema_features (
    source_id     INTEGER NOT NULL,
    artifact_id   BIGINT NOT NULL,
    feature       VARCHAR NOT NULL,
    type          VARCHAR NOT NULL,   -- TYPE_UNKNOWN BYTES INT FLOAT STRUCT
    min_fraction  DOUBLE,             -- presence.min_fraction
    domain        VARCHAR             -- the domain, in protobuf text form
);

-- Per anomalies artifact (ExampleValidator's SchemaDiff.pb) and split: one row per anomaly
-- reason of a feature (feature NULL for a dataset-level anomaly).
CREATE TABLE data_anomalies (
    source_id          INTEGER NOT NULL,
    artifact_id        BIGINT NOT NULL,
    split              VARCHAR NOT NULL,
    feature            VARCHAR,
    severity           VARCHAR NOT NULL,   -- UNKNOWN WARNING ERROR
    reason             VARCHAR NOT NULL,   -- e.g. COMPARATOR_L_INFTY_HIGH, ENUM_TYPE_UNEXPECTED_STRING_VALUES
    short_description  VARCHAR,
    description        VARCHAR
);
