-- description: Queries and NXDOMAIN answers per resolving address and query name per day, from Route 53 resolver logs (DNS hunt)
-- view: dns_activity
-- key: accountid = accountid
-- key: src_ip = src_ip
-- entity: src_ip
-- measure: queries
-- mitre: T1568.002, T1071.004
SELECT accountid, COALESCE(src_ip, '') AS src_ip, COALESCE(src_instance, '') AS src_instance,
       query_hostname AS hostname,
       date_trunc({{bucket}}, time) AS bucket_start,
       CAST(count(*) AS DOUBLE) AS queries,
       CAST(sum(CASE WHEN rcode_id = 3 OR upper(rcode) = 'NXDOMAIN' THEN 1 ELSE 0 END) AS DOUBLE) AS nx
FROM lakesight.dns_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND query_hostname IS NOT NULL
GROUP BY accountid, COALESCE(src_ip, ''), COALESCE(src_instance, ''), query_hostname, date_trunc({{bucket}}, time)
