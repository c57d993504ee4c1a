-- description: Accepted flows per VPC source instance, from VPC Flow Logs
-- view: network_activity
-- key: accountid = accountid
-- key: src_instance = src_instance
-- filter: action_id = 1
-- entity: src_instance
-- measure: flows
-- values: counts
-- baseline: required
-- mitre: T1021, T1046
SELECT accountid, src_instance,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS value
FROM lakesight.network_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND action_id = 1 AND src_instance IS NOT NULL
GROUP BY accountid, src_instance, date_trunc({{bucket}}, time)
