SELECT *
FROM lakesight.api_activity
WHERE eventday BETWEEN '20250320' AND '20250320'
  AND time >= TIMESTAMP '2025-03-20 00:00:00' AND time < TIMESTAMP '2025-03-21 00:00:00'
  AND (accountid) = '111122223333'
  AND (principal) = 'arn:aws:iam::1:user/o''brien'
  AND (activity_name) IS NULL
ORDER BY time
LIMIT 10000