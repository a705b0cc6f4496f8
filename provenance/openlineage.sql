-- OpenLineage RunEvents -> the staging tables (provenance/readers.py).
-- provenance/openlineage_check.py fills mlprov_stage.ol_checked (one row per event: where it
-- is, the fields used, and the first rule of the spec it breaks) with the `check` block, over
-- the `files` DuckDB's JSON reader reads whole or the `lines` Python hands over;
-- provenance/openlineage.py then runs the other blocks in file order. A
-- run's execution, a context or a dataset version touched again by a later ingest is merged
-- with its canonical row (times widen, the state follows the latest event, properties of
-- earlier events stay), so every ingest stages whole nodes from new events only.
-- Parameters: $sid. Filled in by Python: {events} (the `lines` or `files` block), {problem}
-- (a CASE over the columns and the schemaURL's parts `url`), {url} (the schemaURL pattern);
-- in `lines`: {extract} (the fields of `doc`, a list), {columns} (its items named), {datasets}
-- (the shape of inputs and outputs); in `files`: {files}, {paths}, {schema} (the fields read)
-- and {fields} (each named).

-- name: check
INSERT INTO mlprov_stage.ol_checked BY NAME
WITH c AS ({events}),
u AS (
    SELECT *, regexp_extract(schema_url, '{url}', ['major', 'def']) AS url,
           TRY_CAST(event_time AS TIMESTAMPTZ) AS ts, TRY_CAST(run_id AS UUID) AS uuid
    FROM c
)
SELECT url.def AS kind, {problem} AS problem, epoch_ms(ts) AS ms, uuid::VARCHAR AS run_uuid,
       * EXCLUDE (url, ts, uuid, invalid, schema_url, event_time, run_id)
FROM u;

-- name: lines
-- The events of ol_source (src, pos, doc: one per line, or per JSON document), parsed here.
WITH p AS (
    SELECT src, pos, {extract} AS j FROM ol_source  -- blank lines are no events
    WHERE length(doc) > 3 OR trim(doc, chr(9) || chr(10) || chr(13) || ' ') <> ''
), x AS (SELECT src, pos, j IS NULL AS invalid, {columns} FROM p)
SELECT * EXCLUDE (inputs, outputs),
       CASE WHEN len(inputs) > 2 THEN from_json(inputs, '{datasets}') END AS input_list,
       CASE WHEN len(outputs) > 2 THEN from_json(outputs, '{datasets}') END AS output_list
FROM x

-- name: files
-- Whole NDJSON files ({paths}: their paths and names), parsed by DuckDB's JSON reader in
-- parallel; one it cannot read, or an event rejected, sends its files to `lines` (for the
-- line numbers).
SELECT f.name AS src, NULL::BIGINT AS pos, false AS invalid, {fields},
       e.inputs AS input_list, e.outputs AS output_list
FROM read_ndjson([{files}], columns = {schema}, filename = true) e
JOIN (VALUES {paths}) f(path, name) ON f.path = e.filename

-- name: rejects
INSERT INTO mlprov_stage.stg_rejects
SELECT 'OpenLineage event', src || coalesce(':' || pos, ''), problem
FROM mlprov_stage.ol_checked WHERE problem IS NOT NULL ORDER BY src, pos;

-- name: events
-- Run events, with the pipeline and pipeline run each belongs to: an Airflow DAG run's own
-- events (jobType DAG) are its pipeline run, a task's root (else parent) job and run are its
-- pipeline and pipeline run, a job without a parent is its own pipeline. rank orders events
-- of one millisecond: a terminal state wins over RUNNING over START, OTHER carries no state.
CREATE TABLE mlprov_stage.ol_ev AS
WITH v AS (
    SELECT *, run_uuid AS run_id, coalesce(event_type, 'OTHER') AS type,
           coalesce(upper(job_type) = 'DAG', false) AS is_dag
    FROM mlprov_stage.ol_checked WHERE problem IS NULL AND kind NOT IN ('DatasetEvent', 'JobEvent')
)
SELECT run_id, type, ms,
       ms * 4 + CASE type WHEN 'OTHER' THEN 0 WHEN 'START' THEN 1 WHEN 'RUNNING' THEN 2 ELSE 3
                END AS rank,
       is_dag, job_ns AS ns, job,
       CASE WHEN is_dag OR parent_job IS NULL THEN job_ns
            ELSE coalesce(root_ns, parent_ns) END AS pipe_ns,
       CASE WHEN is_dag OR parent_job IS NULL THEN job
            ELSE coalesce(root_job, parent_job) END AS pipe_name,
       CASE WHEN is_dag OR parent_run IS NULL THEN run_id
            ELSE lower(coalesce(root_run, parent_run)) END AS pipe_run,
       nominal_start_time, nominal_end_time, error_message, processing_engine,
       processing_engine_version, processing_type, integration, job_type,
       input_list AS inputs, output_list AS outputs
FROM v;

-- name: runs
-- One row per run of a task or job (an execution): its pipeline, its times (of its state
-- events, OTHER events only where it has no other), its latest state and the latest value of
-- each facet kept as a property (the job, run id, namespace and parent run are on the
-- execution's name and its contexts).
CREATE TABLE mlprov_stage.ol_run AS
SELECT run_id,
       arg_max(pipe_ns, rank) AS pipe_ns, arg_max(pipe_name, rank) AS pipe_name,
       arg_max(pipe_run, rank) AS pipe_run, arg_max(ns, rank) AS ns, arg_max(job, rank) AS job,
       min(ms) FILTER (WHERE type <> 'OTHER') AS first_ms,
       max(ms) FILTER (WHERE type <> 'OTHER') AS last_ms,
       min(ms) AS any_first_ms, max(ms) AS any_last_ms,
       max(rank) FILTER (WHERE type <> 'OTHER') AS rank,
       arg_max(type, rank) FILTER (WHERE type <> 'OTHER') AS type,
       arg_max(nominal_start_time, rank) AS nominal_start_time,
       arg_max(nominal_end_time, rank) AS nominal_end_time,
       arg_max(error_message, rank) AS error_message,
       arg_max(processing_engine, rank) AS processing_engine,
       arg_max(processing_engine_version, rank) AS processing_engine_version,
       arg_max(processing_type, rank) AS processing_type,
       arg_max(integration, rank) AS integration,
       arg_max(job_type, rank) AS job_type
FROM mlprov_stage.ol_ev WHERE NOT is_dag GROUP BY run_id;

-- name: executions
-- Merged with the canonical row of a run seen before (ids_run: provenance.readers.Stage).
CREATE TABLE mlprov_stage.ol_xprops AS
WITH wide AS (
    SELECT i.id,
           CASE WHEN r.job <> r.pipe_name AND starts_with(r.job, r.pipe_name || '.')
                THEN r.job[length(r.pipe_name) + 2:] ELSE r.job END AS task,
           r.nominal_start_time, r.nominal_end_time, r.error_message, r.processing_engine,
           r.processing_engine_version, r.processing_type, r.integration, r.job_type
    FROM mlprov_stage.ol_run r JOIN ids_run i ON i.external_id = r.run_id
), new AS (
    UNPIVOT wide ON COLUMNS(* EXCLUDE (id)) INTO NAME name VALUE value
)
SELECT id, name, value FROM new
UNION ALL
SELECT p.execution_id, p.name, p.string_value FROM execution_properties p
WHERE p.source_id = $sid AND p.execution_id IN (SELECT id FROM new)
  AND NOT EXISTS (SELECT 1 FROM new n WHERE n.id = p.execution_id AND n.name = p.name);

-- The type from the latest integration and jobType, this batch's else the stored ones.
CREATE TABLE mlprov_stage.ol_x AS
WITH old AS (
    SELECT execution_id AS id,
           max(string_value) FILTER (WHERE name = 'integration') AS integration,
           max(string_value) FILTER (WHERE name = 'job_type') AS job_type
    FROM execution_properties
    WHERE source_id = $sid AND name IN ('integration', 'job_type') GROUP BY execution_id
)
SELECT i.id, r.run_id,
       'openlineage.' || coalesce(lower(coalesce(r.integration, o.integration)) || '.', '')
       || coalesce(lower(coalesce(r.job_type, o.job_type)), 'job') AS type_name,
       CASE WHEN r.type IS NULL OR (x.end_time IS NOT NULL AND r.rank < epoch_ms(x.end_time)
                 * 4 + CASE x.state WHEN 'RUNNING' THEN 2 WHEN 'UNKNOWN' THEN 0 ELSE 3 END)
            THEN coalesce(x.state, 'UNKNOWN')
            ELSE CASE r.type WHEN 'COMPLETE' THEN 'COMPLETE' WHEN 'FAIL' THEN 'FAILED'
                             WHEN 'ABORT' THEN 'CANCELED' ELSE 'RUNNING' END
       END AS state,
       coalesce(least(r.first_ms, epoch_ms(x.start_time)), r.any_first_ms) AS create_ms,
       coalesce(greatest(r.last_ms, epoch_ms(x.end_time)), r.any_last_ms) AS update_ms
FROM mlprov_stage.ol_run r
JOIN ids_run i ON i.external_id = r.run_id
LEFT JOIN old o ON o.id = i.id
LEFT JOIN executions x ON x.source_id = $sid AND x.execution_id = i.id;

INSERT INTO stg_types VALUES (1, 'openlineage.Pipeline', 'CONTEXT'),
    (2, 'openlineage.PipelineRun', 'CONTEXT'), (3, 'openlineage.Job', 'CONTEXT'),
    (4, 'openlineage.Dataset', 'ARTIFACT');
INSERT INTO stg_types
SELECT 4 + row_number() OVER (ORDER BY type_name), type_name, 'EXECUTION'
FROM (SELECT DISTINCT type_name FROM mlprov_stage.ol_x);
INSERT INTO stg_executions
SELECT x.id, t.id, x.state, x.run_id, x.create_ms, x.update_ms
FROM mlprov_stage.ol_x x JOIN stg_types t ON t.name = x.type_name;
INSERT INTO stg_execution_props
SELECT id, name, true, NULL, NULL, value, NULL FROM mlprov_stage.ol_xprops;

-- name: context_keys
-- Pipelines (a job and namespace), pipeline runs (a run id) and nodes (a task's job).
-- Grouped on the raw columns first: the keys are built once per context, not per event.
CREATE TABLE mlprov_stage.ol_ctx AS
SELECT kind || ' ' || to_json(parts)::VARCHAR AS key, kind, name, ns, first_ms, last_ms
FROM (
    SELECT 'pipeline' AS kind, [pipe_ns, pipe_name] AS parts, pipe_name AS name, pipe_ns AS ns,
           min(ms) AS first_ms, max(ms) AS last_ms
    FROM mlprov_stage.ol_ev GROUP BY pipe_ns, pipe_name
    UNION ALL
    SELECT 'run', [pipe_run], pipe_run, any_value(pipe_ns), min(ms), max(ms)
    FROM mlprov_stage.ol_ev GROUP BY pipe_run
    UNION ALL
    SELECT 'node', [ns, job], job, ns, min(ms), max(ms) FROM mlprov_stage.ol_ev
    WHERE NOT is_dag GROUP BY ns, job
);

-- name: contexts
INSERT INTO stg_contexts
SELECT i.id, CASE c.kind WHEN 'pipeline' THEN 1 WHEN 'run' THEN 2 ELSE 3 END, c.name,
       least(c.first_ms, epoch_ms(o.create_time)), greatest(c.last_ms, epoch_ms(o.update_time))
FROM mlprov_stage.ol_ctx c
JOIN ids_context i ON i.external_id = c.key
LEFT JOIN contexts o ON o.source_id = $sid AND o.context_id = i.id;
INSERT INTO stg_context_props
SELECT i.id, 'namespace', true, NULL, NULL, c.ns, NULL
FROM mlprov_stage.ol_ctx c JOIN ids_context i ON i.external_id = c.key;
INSERT INTO stg_associations
SELECT DISTINCT c.id, x.id
FROM (
    SELECT run_id, 'pipeline ' || to_json([pipe_ns, pipe_name])::VARCHAR AS key
    FROM mlprov_stage.ol_run
    UNION ALL
    SELECT run_id, 'run ' || to_json([pipe_run])::VARCHAR FROM mlprov_stage.ol_run
    UNION ALL
    SELECT run_id, 'node ' || to_json([ns, job])::VARCHAR FROM mlprov_stage.ol_run
) r
JOIN ids_run x ON x.external_id = r.run_id
JOIN ids_context c ON c.external_id = r.key;
INSERT INTO stg_parent_contexts
SELECT DISTINCT c.id, p.id
FROM (
    SELECT 'run ' || to_json([pipe_run])::VARCHAR AS child,
           'pipeline ' || to_json([pipe_ns, pipe_name])::VARCHAR AS parent
    FROM (SELECT DISTINCT pipe_run, pipe_ns, pipe_name FROM mlprov_stage.ol_ev)
    UNION
    SELECT 'node ' || to_json([ns, job])::VARCHAR,
           'pipeline ' || to_json([pipe_ns, pipe_name])::VARCHAR
    FROM (SELECT DISTINCT ns, job, pipe_ns, pipe_name FROM mlprov_stage.ol_ev WHERE NOT is_dag)
) e
JOIN ids_context c ON c.external_id = e.child
JOIN ids_context p ON p.external_id = e.parent;

-- name: datasets
-- Inputs and outputs of each run. An output is a version of its dataset: the one its
-- DatasetVersion facet names, else the run's own. An input naming no version reads the
-- latest version written before it (an earlier output in this batch or in the store, the
-- `ol_candidates` block), else the dataset itself, from outside any pipeline.
CREATE TABLE mlprov_stage.ol_io AS
WITH d AS (
    SELECT run_id, ms, 'OUTPUT' AS type, unnest(outputs) AS d
    FROM mlprov_stage.ol_ev WHERE NOT is_dag AND len(outputs) > 0
    UNION ALL
    SELECT run_id, ms, 'INPUT', unnest(inputs) FROM mlprov_stage.ol_ev
    WHERE NOT is_dag AND len(inputs) > 0
)
SELECT run_id, type, d.namespace AS ns, d.name, d.facets.version.datasetVersion AS version,
       d.namespace || '/' || d.name AS uri,
       CASE WHEN d.facets.version.datasetVersion IS NOT NULL
            THEN to_json([d.namespace, d.name, 'version ' || d.facets.version.datasetVersion])
            WHEN type = 'OUTPUT' THEN to_json([d.namespace, d.name, 'run ' || run_id])
       END::VARCHAR AS key,
       min(ms) AS ms, max(ms) AS last_ms
FROM d GROUP BY ALL;

-- name: resolve_inputs
CREATE TABLE mlprov_stage.ol_candidates AS
SELECT o.uri, min(o.ms) AS ms, i.id
FROM mlprov_stage.ol_io o JOIN ids_dataset i ON i.external_id = o.key
GROUP BY ALL
UNION ALL
SELECT uri, epoch_ms(create_time), artifact_id FROM artifacts
WHERE source_id = $sid AND state = 'LIVE' AND create_time IS NOT NULL
  AND uri IN (SELECT uri FROM mlprov_stage.ol_io WHERE key IS NULL);
-- strictly before: a run reading and writing one dataset reads the version before its own
CREATE TABLE mlprov_stage.ol_resolved AS
SELECT o.run_id, o.ns, o.name, o.uri, o.ms, o.last_ms, c.id,
       CASE WHEN c.id IS NULL THEN to_json([o.ns, o.name])::VARCHAR END AS key
FROM (SELECT * FROM mlprov_stage.ol_io WHERE key IS NULL) o
ASOF LEFT JOIN mlprov_stage.ol_candidates c ON c.uri = o.uri AND o.ms > c.ms;

-- name: artifacts
CREATE TABLE mlprov_stage.ol_art AS
SELECT i.id, any_value(a.ns) AS ns, any_value(a.name) AS name, any_value(a.uri) AS uri,
       any_value(a.version) AS version, bool_or(a.reference) AS reference,
       min(a.ms) AS first_ms, max(a.last_ms) AS last_ms
FROM (
    SELECT key, ns, name, uri, version, false AS reference, ms, last_ms
    FROM mlprov_stage.ol_io WHERE key IS NOT NULL
    UNION ALL
    SELECT key, ns, name, uri, NULL, true, ms, last_ms
    FROM mlprov_stage.ol_resolved WHERE key IS NOT NULL
) a
JOIN ids_dataset i ON i.external_id = a.key
GROUP BY i.id;
INSERT INTO stg_artifacts
SELECT a.id, 4, a.uri, CASE WHEN a.reference THEN 'REFERENCE' ELSE 'LIVE' END, a.name,
       least(a.first_ms, epoch_ms(o.create_time)), greatest(a.last_ms, epoch_ms(o.update_time))
FROM mlprov_stage.ol_art a
LEFT JOIN artifacts o ON o.source_id = $sid AND o.artifact_id = a.id;
INSERT INTO stg_artifact_props
SELECT id, name, true, NULL, NULL, value, NULL
FROM (UNPIVOT (SELECT id, ns AS namespace, name AS dataset, version FROM mlprov_stage.ol_art)
      ON namespace, dataset, version INTO NAME name VALUE value);
INSERT INTO stg_events
SELECT x.id, a, type, min(ms), NULL, NULL
FROM (
    SELECT o.run_id, i.id AS a, o.type, o.ms
    FROM mlprov_stage.ol_io o JOIN ids_dataset i ON i.external_id = o.key
    UNION ALL
    SELECT r.run_id, coalesce(r.id, i.id), 'INPUT', r.ms
    FROM mlprov_stage.ol_resolved r LEFT JOIN ids_dataset i ON i.external_id = r.key
) e
JOIN ids_run x ON x.external_id = e.run_id
GROUP BY ALL;
