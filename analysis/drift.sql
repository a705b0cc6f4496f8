-- Inputs of the drift measures (analysis/drift.py): statistics payloads read by
-- provenance/payloads.py.

-- name: span_statistics
-- Statistics artifacts of finished StatisticsGen runs whose payload was read, per pipeline and
-- span, with the time they became available.
SELECT DISTINCT x.source_id, coalesce(x.pipeline_id, -1) AS pipeline_id, p.name AS pipeline,
       a.artifact_id, a.span, coalesce(x.end_time, a.create_time) AS available_time
FROM artifacts a
JOIN events o ON o.source_id = a.source_id AND o.artifact_id = a.artifact_id AND o.type = 'OUTPUT'
JOIN executions x ON x.source_id = o.source_id AND x.execution_id = o.execution_id
LEFT JOIN pipelines p ON p.source_id = x.source_id AND p.pipeline_id = x.pipeline_id
WHERE a.type_name = 'ExampleStatistics' AND a.span IS NOT NULL AND x.state = 'COMPLETE'
  AND EXISTS (SELECT 1 FROM payload_reads r WHERE r.source_id = a.source_id
              AND r.artifact_id = a.artifact_id AND r.status = 'read')
ORDER BY x.source_id, pipeline_id, a.span, available_time;

-- name: distributions
-- The buckets drift is computed on (standard histograms of numeric features, rank histograms
-- of categorical ones), of one split per artifact: train when there is one, else the first.
WITH chosen AS (
    SELECT source_id, artifact_id,
           CASE WHEN bool_or(split = 'train') THEN 'train' ELSE min(split) END AS split
    FROM feature_stats
    GROUP BY source_id, artifact_id
)
SELECT b.source_id, b.artifact_id, b.feature, b.histogram, b.low, b.high, b.label, b.count,
       s.num_nan
FROM feature_buckets b
JOIN chosen c ON c.source_id = b.source_id AND c.artifact_id = b.artifact_id AND c.split = b.split
JOIN feature_stats s ON s.source_id = b.source_id AND s.artifact_id = b.artifact_id
     AND s.split = b.split AND s.feature = b.feature
WHERE b.histogram IN ('standard', 'rank')
ORDER BY b.source_id, b.artifact_id, b.feature, b.histogram, b.bucket;
