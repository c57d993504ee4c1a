-- description: Calls per principal, source IP address and operation per day from CloudTrail: what each principal did from each address (the behaviour IP Insights weighs beside the address)
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- key: src_ip = src_ip
-- entity: principal
-- measure: API calls
-- mitre: T1078.004
SELECT accountid, principal, src_ip,
       concat(COALESCE(service, ''), ':', COALESCE(operation, '')) AS operation,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS events
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL AND src_ip IS NOT NULL
GROUP BY accountid, principal, src_ip, concat(COALESCE(service, ''), ':', COALESCE(operation, '')),
         date_trunc({{bucket}}, time)
