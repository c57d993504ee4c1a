-- description: DNS queries per source instance, from Route 53 resolver logs
-- view: dns_activity
-- key: accountid = accountid
-- key: src_instance = src_instance
-- entity: src_instance
-- measure: DNS queries
-- values: counts
-- baseline: required
-- mitre: T1568.002, T1071.004
SELECT accountid, src_instance,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.dns_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
GROUP BY accountid, src_instance, date_trunc({{bucket}}, time)
