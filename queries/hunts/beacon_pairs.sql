-- description: Connection start times (epoch seconds) and payload sizes per source address, destination address and port per day, from VPC Flow Logs, for private sources with at least four accepted flows to the pair that day (beaconing hunt)
-- view: network_activity
-- key: accountid = accountid
-- key: src_ip = src_ip
-- entity: src_ip
-- measure: flows
-- mitre: T1071.001
SELECT accountid, src_ip, COALESCE(src_instance, '') AS src_instance, dst_ip,
       COALESCE(dst_port, -1) AS dst_port,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS flows,
       CAST(avg(CAST(COALESCE(bytes, 0) AS DOUBLE)) AS DOUBLE) AS bytes_mean,
       CAST(COALESCE(stddev_pop(CAST(COALESCE(bytes, 0) AS DOUBLE)), 0) AS DOUBLE) AS bytes_sd,
       array_agg(CAST(to_unixtime(time) AS BIGINT)) AS times
FROM lakesight.network_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND dst_ip IS NOT NULL AND action_id = 1
  AND (src_ip LIKE '10.%' OR src_ip LIKE '172.%' OR src_ip LIKE '192.168.%' OR src_ip LIKE '100.%'
       OR src_ip LIKE 'f%' OR src_ip LIKE '::ffff:%')
GROUP BY accountid, src_ip, COALESCE(src_instance, ''), dst_ip, COALESCE(dst_port, -1), date_trunc({{bucket}}, time)
HAVING count(*) >= 4
