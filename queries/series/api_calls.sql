-- description: API calls per principal and activity (Create/Read/Update/Delete/Logon) from CloudTrail
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- key: activity_name = activity_name
-- entity: principal
-- measure: API calls
-- values: counts
-- baseline: required
-- mitre: T1530, T1078.004
SELECT accountid, principal, activity_name,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
GROUP BY accountid, principal, activity_name, date_trunc({{bucket}}, time)
