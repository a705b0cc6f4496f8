-- MLflow tracking tables (read raw into mlf_* tables of the staging area by
-- provenance/mlflow_store.py) -> the staging tables of provenance/readers.py.
-- No semicolons in comments: blocks are split on them.
--
-- experiment                       -> context mlflow.Experiment (the pipeline)
-- top-level run                    -> context mlflow.PipelineRun (the pipeline run)
-- run without nested runs          -> execution mlflow.Run, or mlflow.ModelRun when it logged
--                                     a model or a model version was registered from it
-- run with nested runs             -> only its pipeline-run context (its time spans theirs)
-- dataset logged as a run's input  -> artifact mlflow.Dataset, INPUT keyed by its context
-- logged model (MLflow 3)          -> artifact mlflow.Model, OUTPUT of its source run
-- model version from a run         -> execution mlflow.ModelRegistration (category deploy)
--                                     reading the model (the logged model, or mlflow.RunModel
--                                     for a version registered from a run's files) and writing
--                                     artifact mlflow.ModelVersion, pushed = 1 when it holds
--                                     a deploy alias ($aliases) or is in stage Production
-- params, latest metrics, tags     -> properties params.K, metrics.K, tags.K
-- Parameters: $aliases (the deploy aliases), $sid (the source id), $since (runs started or
-- ended at this time or later are staged again, NULL on a full read).

-- name: live
-- Runs and models that are not deleted (nor in a deleted experiment), nesting, and roots.
INSERT INTO stg_types VALUES
    (1, 'mlflow.Experiment', 'CONTEXT'), (2, 'mlflow.PipelineRun', 'CONTEXT'),
    (3, 'mlflow.Run', 'EXECUTION'), (4, 'mlflow.ModelRun', 'EXECUTION'),
    (5, 'mlflow.ModelRegistration', 'EXECUTION'), (6, 'mlflow.Dataset', 'ARTIFACT'),
    (7, 'mlflow.Model', 'ARTIFACT'), (8, 'mlflow.RunModel', 'ARTIFACT'),
    (9, 'mlflow.ModelVersion', 'ARTIFACT');

CREATE OR REPLACE TEMP TABLE mlf_exp AS
SELECT * FROM mlf_experiments WHERE lifecycle_stage IS DISTINCT FROM 'deleted';

CREATE OR REPLACE TEMP TABLE mlf_live AS
SELECT r.* FROM mlf_runs r SEMI JOIN mlf_exp e ON e.experiment_id = r.experiment_id
WHERE r.lifecycle_stage IS DISTINCT FROM 'deleted';

CREATE OR REPLACE TEMP TABLE mlf_parent AS
SELECT t.run_uuid, t.parent FROM mlf_nesting t
SEMI JOIN mlf_live r ON r.run_uuid = t.run_uuid
SEMI JOIN mlf_live p ON p.run_uuid = t.parent
WHERE t.parent <> t.run_uuid;

CREATE OR REPLACE TEMP TABLE mlf_root AS
WITH RECURSIVE up(run_uuid, root, depth) AS (
    SELECT run_uuid, run_uuid, 0 FROM mlf_live
    UNION ALL
    SELECT u.run_uuid, p.parent, u.depth + 1
    FROM up u JOIN mlf_parent p ON p.run_uuid = u.root
    WHERE u.depth < 64
)
SELECT run_uuid, arg_max(root, depth) AS root, max(depth) AS depth FROM up GROUP BY run_uuid;

CREATE OR REPLACE TEMP TABLE mlf_models AS
SELECT m.* FROM mlf_logged_models m SEMI JOIN mlf_exp e ON e.experiment_id = m.experiment_id
WHERE m.lifecycle_stage IS DISTINCT FROM 'deleted';

-- Model versions with a live run: their model is a logged model (source models:/<id>) or
-- the run's files at the version's source.
CREATE OR REPLACE TEMP TABLE mlf_mv AS
SELECT v.*, r.experiment_id, ro.root,
       CASE WHEN v.workspace = 'default' THEN '' ELSE v.workspace || '/' END
           || v.name || '/' || v.version AS label,
       m.model_id,
       CASE WHEN m.model_id IS NOT NULL THEN 'model:' || m.model_id
            ELSE 'source:' || v.run_id || ':' || coalesce(v.source, '') END AS model_key,
       a.aliases,
       coalesce(len(list_intersect(a.aliases, $aliases)) > 0, false)
           OR v.current_stage = 'Production' AS deployed
FROM mlf_versions v
JOIN mlf_live r ON r.run_uuid = v.run_id
JOIN mlf_root ro ON ro.run_uuid = v.run_id
LEFT JOIN mlf_models m ON v.source = 'models:/' || m.model_id
LEFT JOIN (
    SELECT workspace, name, version, list_sort(list(alias)) AS aliases
    FROM mlf_aliases GROUP BY ALL
) a ON a.workspace = v.workspace AND a.name = v.name AND a.version = v.version;

-- Runs' model outputs: logged models by source run or by log_outputs, and version sources.
CREATE OR REPLACE TEMP TABLE mlf_made AS
SELECT DISTINCT run_uuid, model_key FROM (
    SELECT source_run_id AS run_uuid, 'model:' || model_id AS model_key FROM mlf_models
    UNION ALL
    SELECT i.source_id, 'model:' || i.destination_id FROM mlf_inputs i
    SEMI JOIN mlf_models m ON m.model_id = i.destination_id
    WHERE i.source_type = 'RUN_OUTPUT' AND i.destination_type = 'MODEL_OUTPUT'
    UNION ALL
    SELECT run_id, model_key FROM mlf_mv
)
SEMI JOIN mlf_live r USING (run_uuid);

-- Steps (runs without nested runs) with their execution type and state.
CREATE OR REPLACE TEMP TABLE mlf_steps AS
SELECT r.*, ro.root,
       CASE WHEN r.run_uuid IN (SELECT run_uuid FROM mlf_made) THEN 4 ELSE 3 END AS type_id,
       CASE r.status WHEN 'FINISHED' THEN 'COMPLETE' WHEN 'FAILED' THEN 'FAILED'
            WHEN 'KILLED' THEN 'CANCELED' WHEN 'RUNNING' THEN 'RUNNING'
            WHEN 'SCHEDULED' THEN 'RUNNING' ELSE 'UNKNOWN' END AS state
FROM mlf_live r JOIN mlf_root ro USING (run_uuid)
ANTI JOIN mlf_parent p ON p.parent = r.run_uuid;

-- name: keys
-- The text id of every node this batch stages, per id space.
CREATE OR REPLACE TEMP TABLE mlf_context_keys AS
SELECT 'experiment:' || experiment_id AS k FROM mlf_exp
SEMI JOIN mlf_live r ON r.experiment_id = mlf_exp.experiment_id
UNION ALL
SELECT DISTINCT 'run:' || root FROM mlf_root;

CREATE OR REPLACE TEMP TABLE mlf_execution_keys AS
SELECT 'run:' || run_uuid AS k FROM mlf_steps
UNION ALL
SELECT 'version:' || label FROM mlf_mv;

CREATE OR REPLACE TEMP TABLE mlf_artifact_keys AS
SELECT 'dataset:' || dataset_uuid AS k FROM mlf_datasets d
SEMI JOIN mlf_exp e ON e.experiment_id = d.experiment_id
UNION ALL
SELECT 'model:' || model_id FROM mlf_models
UNION ALL
SELECT DISTINCT model_key FROM mlf_mv WHERE model_id IS NULL
UNION ALL
SELECT 'version:' || label FROM mlf_mv;

-- name: changed
-- The runs whose rows and properties this ingest stages ($ctx, $exe: the views of stable
-- integer ids): every live one on a full read (since NULL), else the steps that are new,
-- still running, started or ended at or after since, or whose canonical row differs from the
-- source's (a status set, a model registered from an old run), then (changed_properties)
-- the runs whose params, metrics or tags differ, then (changed_pipelines) the pipeline runs
-- that are so or hold such a step.
-- Runs' owners: a step's properties go on its execution, those of a run with nested runs
-- on its pipeline-run context (steps are the runs without nested runs: one owner per run).
CREATE OR REPLACE TEMP TABLE mlf_all_owners AS
SELECT s.run_uuid, x.id, false AS on_context
FROM mlf_steps s JOIN $exe x ON x.external_id = 'run:' || s.run_uuid
UNION ALL
SELECT DISTINCT n.parent, c.id, true
FROM mlf_parent n JOIN $ctx c ON c.external_id = 'run:' || n.parent;

CREATE OR REPLACE TEMP TABLE mlf_changed AS
SELECT s.run_uuid FROM mlf_steps s
JOIN $exe x ON x.external_id = 'run:' || s.run_uuid
JOIN stg_types t ON t.id = s.type_id
LEFT JOIN executions c ON c.source_id = $sid AND c.execution_id = x.id
WHERE $since IS NULL OR c.execution_id IS NULL OR s.end_time IS NULL
   OR s.start_time >= $since OR s.end_time >= $since
   OR c.type_name IS DISTINCT FROM t.name OR c.state IS DISTINCT FROM s.state
   OR c.name IS DISTINCT FROM coalesce(s.name, s.run_uuid)
   OR c.start_time IS DISTINCT FROM epoch_ms(s.start_time)
   OR c.end_time IS DISTINCT FROM epoch_ms(s.end_time);

-- name: changed_properties
-- Owned runs whose digest of params, metrics or tags (mlf_digests: rows and text length, or
-- the sum of the values, per run and kind) differs from that of their canonical properties.
CREATE OR REPLACE TEMP TABLE mlf_kept AS
SELECT o.run_uuid, split_part(p.name, '.', 1) AS kind, count(*) AS n,
       sum(CASE WHEN p.name LIKE 'metrics.%'
                THEN CASE WHEN isnan(p.double_value) THEN 0 ELSE p.double_value END
                ELSE length(p.name) - length(split_part(p.name, '.', 1)) - 1
                     + length(p.string_value) END) AS size
FROM mlf_all_owners o JOIN (
    SELECT execution_id AS id, false AS on_context, name, double_value, string_value
    FROM execution_properties WHERE source_id = $sid AND is_custom
    UNION ALL
    SELECT context_id, true, name, double_value, string_value
    FROM context_properties WHERE source_id = $sid AND is_custom
) p ON p.id = o.id AND p.on_context = o.on_context
GROUP BY ALL;

INSERT INTO mlf_changed
SELECT DISTINCT coalesce(d.run_uuid, k.run_uuid)
FROM (SELECT * FROM mlf_digests SEMI JOIN mlf_all_owners USING (run_uuid)) d
FULL JOIN mlf_kept k ON k.run_uuid = d.run_uuid AND k.kind = d.kind
WHERE d.n IS DISTINCT FROM k.n
   OR NOT abs(d.size - k.size) <= 1e-9 * greatest(1, abs(d.size));

-- name: changed_pipelines
INSERT INTO mlf_changed
SELECT r.run_uuid FROM mlf_live r
SEMI JOIN mlf_parent n ON n.parent = r.run_uuid
JOIN $ctx x ON x.external_id = 'run:' || r.run_uuid
LEFT JOIN contexts c ON c.source_id = $sid AND c.context_id = x.id
WHERE $since IS NULL OR c.context_id IS NULL OR r.end_time IS NULL
   OR r.start_time >= $since OR r.end_time >= $since
   OR c.create_time IS DISTINCT FROM epoch_ms(r.start_time)
   OR c.update_time IS DISTINCT FROM epoch_ms(r.end_time)
   OR r.run_uuid IN (SELECT root FROM mlf_root SEMI JOIN mlf_changed USING (run_uuid));

CREATE OR REPLACE TEMP TABLE mlf_changed AS SELECT DISTINCT run_uuid FROM mlf_changed;

-- name: stage
-- $ctx, $exe, $art: the views of stable integer ids (Stage.stable_ids).
CREATE OR REPLACE TEMP TABLE mlf_run_ctx AS
SELECT ro.run_uuid, c.id AS run_ctx, e.id AS exp_ctx, r.experiment_id
FROM mlf_root ro
JOIN mlf_live r USING (run_uuid)
JOIN $ctx c ON c.external_id = 'run:' || ro.root
JOIN $ctx e ON e.external_id = 'experiment:' || r.experiment_id;

-- Experiments created before MLflow 2.2 have no creation time: their first run's start.
INSERT INTO stg_contexts
SELECT c.id, 1, e.name, coalesce(e.creation_time, r.first_start),
       coalesce(e.last_update_time, e.creation_time, r.first_start)
FROM mlf_exp e JOIN $ctx c ON c.external_id = 'experiment:' || e.experiment_id
LEFT JOIN (SELECT experiment_id, min(start_time) AS first_start FROM mlf_live GROUP BY ALL) r
    ON r.experiment_id = e.experiment_id
UNION ALL
SELECT c.id, 2, r.run_uuid, r.start_time, coalesce(r.end_time, r.start_time)
FROM mlf_live r SEMI JOIN mlf_changed USING (run_uuid)
JOIN $ctx c ON c.external_id = 'run:' || r.run_uuid;

INSERT INTO stg_parent_contexts
SELECT DISTINCT run_ctx, exp_ctx FROM mlf_run_ctx;

INSERT INTO stg_executions
SELECT x.id, s.type_id, s.state, coalesce(s.name, s.run_uuid), s.start_time,
       coalesce(s.end_time, greatest(s.start_time, m.last_metric), s.start_time)
FROM mlf_steps s SEMI JOIN mlf_changed USING (run_uuid)
JOIN $exe x ON x.external_id = 'run:' || s.run_uuid
LEFT JOIN (SELECT run_uuid, max(timestamp) AS last_metric FROM mlf_metrics GROUP BY ALL) m
    USING (run_uuid)
UNION ALL
SELECT x.id, 5,
       CASE v.status WHEN 'READY' THEN 'COMPLETE' WHEN 'FAILED_REGISTRATION' THEN 'FAILED'
            WHEN 'PENDING_REGISTRATION' THEN 'RUNNING' ELSE 'UNKNOWN' END,
       v.label, v.creation_time, v.creation_time
FROM mlf_mv v JOIN $exe x ON x.external_id = 'version:' || v.label;

-- Runs: their component (the run name), id, params, latest metrics and tags, on their owner.
CREATE OR REPLACE TEMP TABLE mlf_owner AS
SELECT * FROM mlf_all_owners SEMI JOIN mlf_changed USING (run_uuid);

-- Joined to their owner first, so only owned rows are turned into properties.
CREATE OR REPLACE TEMP VIEW mlf_run_props AS
SELECT o.id, o.on_context, p.name, p.is_custom, p.i, p.d, p.s
FROM mlf_owner o JOIN (
    SELECT run_uuid, 'component' AS name, false AS is_custom, NULL::BIGINT AS i,
           NULL::DOUBLE AS d, coalesce(name, run_uuid) AS s
    FROM mlf_live
    UNION ALL SELECT run_uuid, 'run_uuid', false, NULL, NULL, run_uuid FROM mlf_live
    UNION ALL SELECT run_uuid, 'status', false, NULL, NULL, status FROM mlf_live
) p USING (run_uuid)
UNION ALL
SELECT o.id, o.on_context, 'params.' || p.key, true, NULL, NULL, coalesce(p.value, '')
FROM mlf_owner o JOIN mlf_params p USING (run_uuid)
UNION ALL
SELECT o.id, o.on_context, 'metrics.' || p.key, true, NULL,
       CASE WHEN p.is_nan = 1 THEN 'NaN'::DOUBLE ELSE p.value END, NULL
FROM mlf_owner o JOIN mlf_metrics p USING (run_uuid)
UNION ALL
SELECT o.id, o.on_context, 'tags.' || p.key, true, NULL, NULL, coalesce(p.value, '')
FROM mlf_owner o JOIN mlf_tags p USING (run_uuid);

INSERT INTO stg_execution_props
SELECT id, name, is_custom, i, d, s, NULL FROM mlf_run_props WHERE NOT on_context
UNION ALL
SELECT x.id, p.name, false, p.i, NULL, p.s, NULL
FROM mlf_mv v JOIN $exe x ON x.external_id = 'version:' || v.label,
     LATERAL (VALUES ('component', NULL::BIGINT, 'register_model'),
                     ('registered_model', NULL, v.name),
                     ('model_version', v.version, NULL)) p(name, i, s);

INSERT INTO stg_context_props
SELECT id, name, is_custom, i, d, s, NULL FROM mlf_run_props WHERE on_context;

INSERT INTO stg_associations
SELECT c.run_ctx, x.id FROM mlf_steps s
JOIN $exe x ON x.external_id = 'run:' || s.run_uuid JOIN mlf_run_ctx c USING (run_uuid)
UNION ALL
SELECT c.exp_ctx, x.id FROM mlf_steps s
JOIN $exe x ON x.external_id = 'run:' || s.run_uuid JOIN mlf_run_ctx c USING (run_uuid)
UNION ALL
SELECT c.run_ctx, x.id FROM mlf_mv v
JOIN $exe x ON x.external_id = 'version:' || v.label JOIN mlf_run_ctx c ON c.run_uuid = v.run_id
UNION ALL
SELECT c.exp_ctx, x.id FROM mlf_mv v
JOIN $exe x ON x.external_id = 'version:' || v.label JOIN mlf_run_ctx c ON c.run_uuid = v.run_id;

-- Dataset inputs of live runs: a dataset's time is its first use (MLflow records none).
CREATE OR REPLACE TEMP TABLE mlf_used AS
SELECT i.destination_id AS run_uuid, 'dataset:' || i.source_id AS k,
       coalesce(max(t.value) FILTER (WHERE t.name = 'mlflow.data.context'), 'dataset') AS key,
       min(r.start_time) AS ms
FROM mlf_inputs i
JOIN mlf_live r ON r.run_uuid = i.destination_id
LEFT JOIN mlf_input_tags t ON t.input_uuid = i.input_uuid
WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN'
GROUP BY ALL;

-- MLflow records no time when an alias moves: a version whose deployed flag changed since
-- the last ingest is updated just after everything the store holds (so a graphlet refresh
-- redoes its graphlets), and an update time never goes back.
CREATE OR REPLACE TEMP TABLE mlf_old_versions AS
SELECT a.artifact_id, epoch_ms(a.update_time) AS ms,
       max(p.int_value) FILTER (WHERE p.name = 'pushed') AS pushed,
       (SELECT epoch_ms(max(update_time)) FROM artifacts WHERE source_id = $sid) AS latest
FROM artifacts a
LEFT JOIN artifact_properties p ON p.source_id = a.source_id AND p.artifact_id = a.artifact_id
WHERE a.source_id = $sid AND a.type_name = 'mlflow.ModelVersion'
GROUP BY ALL;

INSERT INTO stg_artifacts
SELECT a.id, 6, coalesce(json_extract_string(d.dataset_source, '$.uri'), d.dataset_source),
       'LIVE', d.name, coalesce(u.ms, e.creation_time), coalesce(u.ms, e.creation_time)
FROM mlf_datasets d
JOIN mlf_exp e ON e.experiment_id = d.experiment_id
JOIN $art a ON a.external_id = 'dataset:' || d.dataset_uuid
LEFT JOIN (SELECT k, min(ms) AS ms FROM mlf_used GROUP BY k) u ON u.k = a.external_id
UNION ALL
SELECT a.id, 7, m.artifact_location,
       CASE m.status WHEN 1 THEN 'PENDING' WHEN 2 THEN 'LIVE' WHEN 3 THEN 'ABANDONED'
            ELSE 'UNKNOWN' END,
       m.name, m.creation_ms, m.update_ms
FROM mlf_models m JOIN $art a ON a.external_id = 'model:' || m.model_id
UNION ALL
SELECT a.id, 8, any_value(v.source), 'LIVE', NULL, min(v.creation_time), min(v.creation_time)
FROM mlf_mv v JOIN $art a ON a.external_id = v.model_key
WHERE v.model_id IS NULL GROUP BY a.id
UNION ALL
SELECT a.id, 9, coalesce(v.source, v.storage_location), 'LIVE', v.label, v.creation_time,
       CASE WHEN old.artifact_id IS NULL THEN v.updated
            WHEN v.deployed::BIGINT IS DISTINCT FROM old.pushed
            THEN greatest(v.updated, old.latest + 1) ELSE greatest(v.updated, old.ms) END
FROM (SELECT *, coalesce(last_updated_time, creation_time) AS updated FROM mlf_mv) v
JOIN $art a ON a.external_id = 'version:' || v.label
LEFT JOIN mlf_old_versions old ON old.artifact_id = a.id;

INSERT INTO stg_artifact_props
SELECT a.id, p.name, false, p.i, NULL, p.s, NULL
FROM mlf_datasets d JOIN $art a ON a.external_id = 'dataset:' || d.dataset_uuid,
     LATERAL (VALUES ('digest', NULL::BIGINT, d.digest),
                     ('source_type', NULL, d.dataset_source_type)) p(name, i, s)
UNION ALL
SELECT a.id, p.name, false, NULL, NULL, p.s, NULL
FROM mlf_models m JOIN $art a ON a.external_id = 'model:' || m.model_id,
     LATERAL (VALUES ('model_id', m.model_id), ('model_type', m.model_type)) p(name, s)
WHERE p.s IS NOT NULL
UNION ALL
SELECT a.id, p.name, false, p.i, NULL, p.s, NULL
FROM mlf_mv v JOIN $art a ON a.external_id = 'version:' || v.label,
     LATERAL (VALUES ('registered_model', NULL::BIGINT, v.name),
                     ('model_version', v.version, NULL),
                     ('stage', NULL, v.current_stage),
                     ('aliases', NULL, array_to_string(v.aliases, ',')),
                     ('pushed', v.deployed::BIGINT, NULL)) p(name, i, s)
WHERE p.i IS NOT NULL OR p.s IS NOT NULL;

INSERT INTO stg_attributions
SELECT e.id, a.id FROM mlf_datasets d
JOIN $art a ON a.external_id = 'dataset:' || d.dataset_uuid
JOIN $ctx e ON e.external_id = 'experiment:' || d.experiment_id
UNION ALL
SELECT e.id, a.id FROM mlf_models m
JOIN $art a ON a.external_id = 'model:' || m.model_id
JOIN $ctx e ON e.external_id = 'experiment:' || m.experiment_id
UNION ALL
SELECT DISTINCT c.exp_ctx, a.id FROM mlf_mv v
JOIN $art a ON a.external_id = v.model_key
JOIN mlf_run_ctx c ON c.run_uuid = v.run_id
WHERE v.model_id IS NULL
UNION ALL
SELECT c.exp_ctx, a.id FROM mlf_mv v
JOIN $art a ON a.external_id = 'version:' || v.label
JOIN mlf_run_ctx c ON c.run_uuid = v.run_id;

-- Events: datasets and models read by runs, models written by runs, registrations.
INSERT INTO stg_events
SELECT x.id, a.id, 'INPUT', u.ms, u.key, 0
FROM mlf_used u
JOIN $exe x ON x.external_id = 'run:' || u.run_uuid
JOIN $art a ON a.external_id = u.k
UNION ALL
SELECT DISTINCT x.id, a.id, 'INPUT', s.start_time, 'model', 0
FROM mlf_inputs i
JOIN mlf_steps s ON s.run_uuid = i.source_id
JOIN $exe x ON x.external_id = 'run:' || i.source_id
JOIN $art a ON a.external_id = 'model:' || i.destination_id
WHERE i.source_type = 'RUN_INPUT' AND i.destination_type = 'MODEL_INPUT'
UNION ALL
SELECT x.id, a.id, 'OUTPUT', coalesce(s.end_time, s.start_time), 'model', 0
FROM mlf_made m
JOIN mlf_steps s USING (run_uuid)
JOIN $exe x ON x.external_id = 'run:' || m.run_uuid
JOIN $art a ON a.external_id = m.model_key
UNION ALL
SELECT x.id, a.id, 'INPUT', v.creation_time, 'model', 0
FROM mlf_mv v
JOIN $exe x ON x.external_id = 'version:' || v.label
JOIN $art a ON a.external_id = v.model_key
UNION ALL
SELECT x.id, a.id, 'OUTPUT', v.creation_time, 'model_version', 0
FROM mlf_mv v
JOIN $exe x ON x.external_id = 'version:' || v.label
JOIN $art a ON a.external_id = 'version:' || v.label;

-- name: skipped
-- (table, reason, count, examples) of what was not loaded, or not loaded as itself.
SELECT 'runs', 'deleted runs (or runs of deleted experiments), left out', count(*),
       list(run_uuid ORDER BY run_uuid)[:5]
FROM mlf_runs ANTI JOIN mlf_live USING (run_uuid)
UNION ALL
SELECT 'runs', 'runs with nested runs: loaded as their pipeline-run context, not as an '
       || 'execution (their time spans their nested runs'')', count(DISTINCT parent),
       list(DISTINCT parent ORDER BY parent)[:5]
FROM mlf_parent
UNION ALL
SELECT 'runs', 'nested runs below a nested run: filed under the top-level run', count(*),
       list(run_uuid ORDER BY run_uuid)[:5]
FROM mlf_root WHERE depth > 1
UNION ALL
SELECT 'model_versions', 'model versions registered by hand (no run): no run produced them, '
       || 'so no graphlet holds them', count(*),
       list(name || '/' || version ORDER BY name, version)[:5]
FROM mlf_versions WHERE run_id IS NULL
UNION ALL
SELECT 'model_versions', 'model versions whose run is deleted or missing, left out', count(*),
       list(name || '/' || version ORDER BY name, version)[:5]
FROM mlf_versions v WHERE run_id IS NOT NULL
  AND run_id NOT IN (SELECT run_uuid FROM mlf_live)
UNION ALL
SELECT 'logged_models', 'deleted logged models (or of deleted experiments), left out',
       count(*), list(model_id ORDER BY model_id)[:5]
FROM mlf_logged_models ANTI JOIN mlf_models USING (model_id);
