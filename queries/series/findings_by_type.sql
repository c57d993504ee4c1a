-- description: Security Hub findings per account and finding type (product feature | first type), as the AWS sample notebooks build it
-- view: findings
-- key: accountid = accountid
-- key: finding_type = feature || ' | ' || finding_type_raw
-- entity: finding_type
-- measure: findings
-- values: counts
-- mitre: T1190
SELECT accountid, feature || ' | ' || finding_type_raw AS finding_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.findings
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
GROUP BY accountid, feature || ' | ' || finding_type_raw, date_trunc({{bucket}}, time)
