-- description: Failed API calls (AccessDenied and other errors) per principal from CloudTrail
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- filter: status = 'Failure'
-- entity: principal
-- measure: failed API calls
-- values: counts
-- mitre: T1580, T1069
SELECT accountid, principal,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND status = 'Failure'
GROUP BY accountid, principal, date_trunc({{bucket}}, time)
