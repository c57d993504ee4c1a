-- description: S3 object reads (GetObject) per principal from CloudTrail: a bulk download hides in a principal's Read calls, not in its object reads
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- filter: operation = 'GetObject'
-- entity: principal
-- measure: object reads
-- values: counts
-- baseline: required
-- mitre: T1530
SELECT accountid, principal,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND operation = 'GetObject'
GROUP BY accountid, principal, date_trunc({{bucket}}, time)
