-- description: Failed logins per user (CloudTrail sign-in and the identity provider)
-- view: authentication
-- key: accountid = accountid
-- key: user_name = user_name
-- filter: status_id = 2
-- entity: user_name
-- measure: failed logins
-- values: counts
-- mitre: T1110
SELECT accountid, user_name,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.authentication
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND status_id = 2
GROUP BY accountid, user_name, date_trunc({{bucket}}, time)
