-- lakesight features table for Athena: one row per account, principal and UTC day (UEBA input).
-- Rendered by `lakesight run` into <output>/features_table.sql. Partition projection on dt.
-- Features (queries/features/principal_day.sql):
--   events         CloudTrail events
--   operations     distinct API operations
--   services       distinct AWS services
--   src_ips        distinct source IP addresses
--   user_agents    distinct user agents
--   regions        distinct regions
--   failures       calls that failed (AccessDenied and other errors)
--   deletes        calls of the Delete activity
--   night_events   events between 00:00 and 06:00 UTC
CREATE EXTERNAL TABLE IF NOT EXISTS lakesight.features (
  run_id string,
  account_id string,
  principal string,
  events bigint,
  operations bigint,
  services bigint,
  src_ips bigint,
  user_agents bigint,
  regions bigint,
  failures bigint,
  deletes bigint,
  night_events bigint
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://bucket/lakesight/features/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'storage.location.template' = 's3://bucket/lakesight/features/dt=${dt}/'
);
