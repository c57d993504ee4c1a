-- description: The calls the identity rules judge without history — the root user's, those of instance-profile sessions (a role session named after an EC2 instance) and console logins of IAM users without MFA — per principal, hour, source address, operation, user agent and status
-- view: api_activity
-- key: accountid = accountid
-- key: principal = principal
-- entity: principal
-- measure: events
-- mitre: T1552.005, T1078.004
SELECT accountid, principal, COALESCE(principal_type, '') AS principal_type,
       date_trunc({{bucket}}, time) AS bucket_start,
       COALESCE(src_ip, '') AS src_ip, COALESCE(operation, '') AS operation,
       COALESCE(user_agent, '') AS user_agent, COALESCE(status, '') AS status,
       CASE WHEN operation = 'ConsoleLogin' AND COALESCE(login_mfa, is_mfa) = false THEN 1 ELSE 0 END AS without_mfa,
       CAST(count(*) AS DOUBLE) AS events
FROM lakesight.api_activity
WHERE eventday BETWEEN {{eventday_from}} AND {{eventday_to}}
  AND time >= {{start}} AND time < {{end}}
  AND principal IS NOT NULL
  AND (principal_type = 'Root'
       OR regexp_like(principal, ':assumed-role/[^/]+/i-([0-9a-fA-F]{8}|[0-9a-fA-F]{17})$')
       OR (operation = 'ConsoleLogin' AND principal_type = 'IAMUser' AND COALESCE(login_mfa, is_mfa) = false))
GROUP BY accountid, principal, COALESCE(principal_type, ''), date_trunc({{bucket}}, time),
         COALESCE(src_ip, ''), COALESCE(operation, ''), COALESCE(user_agent, ''), COALESCE(status, ''),
         CASE WHEN operation = 'ConsoleLogin' AND COALESCE(login_mfa, is_mfa) = false THEN 1 ELSE 0 END
