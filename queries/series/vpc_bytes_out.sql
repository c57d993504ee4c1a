-- description: Bytes sent per VPC source instance to destinations outside 10.0.0.0/8, from VPC Flow Logs
-- view: network_activity
-- key: accountid = accountid
-- key: src_instance = src_instance
-- filter: direction = 'Outbound' AND action_id = 1
-- entity: src_instance
-- measure: bytes out
-- baseline: required
-- values: amounts
-- mitre: T1048, T1041
SELECT accountid, src_instance,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(sum(bytes) AS DOUBLE) AS value
FROM lakesight.network_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND direction = 'Outbound' AND action_id = 1
GROUP BY accountid, src_instance, date_trunc({{bucket}}, time)
