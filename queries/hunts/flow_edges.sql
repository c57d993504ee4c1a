-- description: Flows, accepted flows and bytes per source address, destination address and port per day, from VPC Flow Logs, for sources in private ranges and records without addresses (NODATA/SKIPDATA, counted as skips) (network hunts: exfiltration, lateral movement)
-- view: network_activity
-- key: accountid = accountid
-- key: src_ip = src_ip
-- entity: src_ip
-- measure: flows
-- mitre: T1048, T1021
SELECT accountid, src_ip, COALESCE(src_instance, '') AS src_instance, dst_ip,
       COALESCE(dst_port, -1) AS dst_port,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS flows,
       CAST(sum(CASE WHEN action_id = 1 THEN 1 ELSE 0 END) AS DOUBLE) AS accepted,
       CAST(sum(COALESCE(bytes, 0)) AS DOUBLE) AS bytes
FROM lakesight.network_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND (src_ip IS NULL OR src_ip LIKE '10.%' OR src_ip LIKE '172.%' OR src_ip LIKE '192.168.%' OR src_ip LIKE '100.%'
       OR src_ip LIKE 'f%' OR src_ip LIKE '::ffff:%')
GROUP BY accountid, src_ip, COALESCE(src_instance, ''), dst_ip, COALESCE(dst_port, -1), date_trunc({{bucket}}, time)
