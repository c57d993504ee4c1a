-- description: What each principal touched per day (UEBA novelty and context): its operations (with failures and deletes), source addresses, user agents, regions and active hours; the sessions EC2 names after its instances count as their role (`…:assumed-role/EC2-web/i-*`), whose fleet churns
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- entity: principal
-- measure: items
-- mitre: T1078.004
SELECT accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END AS principal, COALESCE(principal_type, '') AS principal_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       'operation' AS kind, concat(COALESCE(service, ''), ':', COALESCE(operation, '')) AS item,
       CAST(count(*) AS DOUBLE) AS events,
       CAST(sum(CASE WHEN status = 'Failure' THEN 1 ELSE 0 END) AS DOUBLE) AS failures,
       CAST(sum(CASE WHEN activity_name = 'Delete' THEN 1 ELSE 0 END) AS DOUBLE) AS deletes
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL
GROUP BY accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END, COALESCE(principal_type, ''), date_trunc({{bucket}}, time),
         concat(COALESCE(service, ''), ':', COALESCE(operation, ''))
UNION ALL
SELECT accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END AS principal, COALESCE(principal_type, '') AS principal_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       'src_ip' AS kind, COALESCE(src_ip, '') AS item,
       CAST(count(*) AS DOUBLE) AS events, CAST(0 AS DOUBLE) AS failures, CAST(0 AS DOUBLE) AS deletes
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL
GROUP BY accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END, COALESCE(principal_type, ''), date_trunc({{bucket}}, time), COALESCE(src_ip, '')
UNION ALL
SELECT accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END AS principal, COALESCE(principal_type, '') AS principal_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       'user_agent' AS kind, COALESCE(user_agent, '') AS item,
       CAST(count(*) AS DOUBLE) AS events, CAST(0 AS DOUBLE) AS failures, CAST(0 AS DOUBLE) AS deletes
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL
GROUP BY accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END, COALESCE(principal_type, ''), date_trunc({{bucket}}, time), COALESCE(user_agent, '')
UNION ALL
SELECT accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END AS principal, COALESCE(principal_type, '') AS principal_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       'region' AS kind, COALESCE(region, '') AS item,
       CAST(count(*) AS DOUBLE) AS events, CAST(0 AS DOUBLE) AS failures, CAST(0 AS DOUBLE) AS deletes
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL
GROUP BY accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END, COALESCE(principal_type, ''), date_trunc({{bucket}}, time), COALESCE(region, '')
UNION ALL
SELECT accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END AS principal, COALESCE(principal_type, '') AS principal_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       'hour' AS kind, CAST(EXTRACT(HOUR FROM time) AS VARCHAR) AS item,
       CAST(count(*) AS DOUBLE) AS events, CAST(0 AS DOUBLE) AS failures, CAST(0 AS DOUBLE) AS deletes
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL
GROUP BY accountid, CASE WHEN regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$') THEN concat(split_part(principal, '/', 1), '/', split_part(principal, '/', 2), '/i-*') ELSE principal END, COALESCE(principal_type, ''), date_trunc({{bucket}}, time), CAST(EXTRACT(HOUR FROM time) AS VARCHAR)
