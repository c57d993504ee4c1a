SELECT accountid, principal,
       date_trunc('day', time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS events,
       CAST(count(DISTINCT operation) AS DOUBLE) AS operations,
       CAST(count(DISTINCT service) AS DOUBLE) AS services,
       CAST(count(DISTINCT src_ip) AS DOUBLE) AS src_ips,
       CAST(count(DISTINCT user_agent) AS DOUBLE) AS user_agents,
       CAST(count(DISTINCT region) AS DOUBLE) AS regions,
       CAST(sum(CASE WHEN status = 'Failure' THEN 1 ELSE 0 END) AS DOUBLE) AS failures,
       CAST(sum(CASE WHEN activity_name = 'Delete' THEN 1 ELSE 0 END) AS DOUBLE) AS deletes,
       CAST(sum(CASE WHEN EXTRACT(HOUR FROM time) < 6 THEN 1 ELSE 0 END) AS DOUBLE) AS night_events
FROM lakesight.api_activity
WHERE eventday BETWEEN '20250328' AND '20250328'
  AND time >= TIMESTAMP '2025-03-28 00:00:00' AND time < TIMESTAMP '2025-03-29 00:00:00'
  AND principal IS NOT NULL
GROUP BY accountid, principal, date_trunc('day', time)