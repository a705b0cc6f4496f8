-- Queries of the payload reader (provenance/payloads.py).

-- name: pending
-- Payload artifacts of the given types, with the URI their files were read from when they
-- were (the reader skips those whose URI, after any rewrite, is unchanged). Artifacts that
-- are not yet written or are deleted have no files to read.
SELECT a.source_id, a.artifact_id, a.type_name, a.uri, r.uri AS read_uri
FROM artifacts a
LEFT JOIN payload_reads r ON r.source_id = a.source_id AND r.artifact_id = a.artifact_id
     AND r.status = 'read'
WHERE list_contains($1, a.type_name) AND coalesce(a.uri, '') <> ''
  AND a.state NOT IN ('PENDING', 'DELETED', 'MARKED_FOR_DELETION', 'ABANDONED')
  AND ($2 IS NULL OR a.source_id = $2)
ORDER BY a.source_id, a.artifact_id;
