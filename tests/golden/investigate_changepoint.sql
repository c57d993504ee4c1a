SELECT CASE WHEN time < TIMESTAMP '2025-03-20 00:00:00' THEN 'before' ELSE 'after' END AS regime, *
FROM lakesight.api_activity
WHERE eventday BETWEEN '20250313' AND '20250326'
  AND time >= TIMESTAMP '2025-03-13 00:00:00' AND time < TIMESTAMP '2025-03-27 00:00:00'
  AND (accountid) = '111122223333'
  AND (principal) = 'arn:aws:iam::1:user/o''brien'
  AND (activity_name) IS NULL
ORDER BY time
LIMIT 10000