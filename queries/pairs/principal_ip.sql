-- description: Events per principal and source IP address per day from CloudTrail: the (entity, IP) pairs IP Insights learns from and scores
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- key: src_ip = src_ip
-- entity: principal
-- measure: API calls from the address
-- mitre: T1078.004
SELECT accountid, principal, src_ip,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL AND src_ip IS NOT NULL
GROUP BY accountid, principal, src_ip, date_trunc({{bucket}}, time)
