-- lakesight findings table for Athena. Rendered by `lakesight run` into <output>/findings_table.sql.
-- Partition projection: new dt/detector partitions are visible without MSCK REPAIR TABLE.
-- Columns (stable, append-only):
--   finding_id        deterministic id: SHA-256 of detector, series family, key, bucket, window (a rerun keeps it)
--   run_id            run that wrote the finding
--   detector_family   outlier | changepoint | trend | ueba | ip_insights | network
--   series_family     template in queries/series/
--   bucket            hour | day
--   severity/_id      Informational(1) .. Critical(5), OCSF ids
--   score             detector score (order within a detector)
--   confidence        0..1
--   entity_type       principal | src_instance | finding_type | user_name ...
--   entity            the entity value
--   account_id        AWS account of the series
--   entity_keys       JSON object of every key of the series
--   window_start/_end anomalous window, UTC, end exclusive
--   observed/expected the value and its baseline (what GuardDuty calls baseline/deviation)
--   lower/upper_bound normal band for one bucket
--   deviation         signed distance from the band, in the detector's unit (IQRs for outliers)
--   kind              spike | dip | increase | decrease ...
--   top_features      JSON list of {name, value, baseline}: the features that contributed most (Elastic's influencers)
--   title/description for people
--   evidence          JSON: keys, window values, detector parameters and band
--   investigation_sql SQL that lists the raw events behind the finding
--   mitre_techniques/_tactics MITRE ATT&CK ids and tactics
--   source_view       normalised view the series read
--   plot              URL of the finding's plot (PNG; the SVG beside it has the same name)
--   Flat copies for QuickSight (it skips arrays and cannot read JSON held in strings):
--   mitre_technique_list / mitre_tactic_list  the arrays above as ", "-joined text
--   top_feature/_value the feature that contributed most and its observed value
--   principal         principal ARN (or user name) of the finding, if any
--   src_ip            source address, if any
--   instance_id       source instance id, if any
--   domain            queried domain, if any
--   One condition, one finding (a trend or level that lasts is one condition, not one alert a day):
--   condition_id      SHA-256 of detector, series family, bucket, keys and kind: the same while the condition lasts
--   status            new (the condition's first finding) | ongoing (a later finding of a condition already reported)
--   first_seen        window start of the condition's first finding
--   condition_days    consecutive days, up to this finding's, with a finding of the condition
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.${table} (
  finding_id string,
  run_id string,
  detector_family string,
  series_family string,
  bucket string,
  severity string,
  severity_id int,
  score double,
  confidence double,
  entity_type string,
  entity string,
  account_id string,
  entity_keys string,
  window_start timestamp,
  window_end timestamp,
  observed double,
  expected double,
  lower_bound double,
  upper_bound double,
  deviation double,
  kind string,
  top_features string,
  title string,
  description string,
  evidence string,
  investigation_sql string,
  mitre_techniques array<string>,
  mitre_tactics array<string>,
  source_view string,
  plot string,
  mitre_technique_list string,
  mitre_tactic_list string,
  top_feature string,
  top_feature_value double,
  principal string,
  src_ip string,
  instance_id string,
  domain string,
  condition_id string,
  status string,
  first_seen timestamp,
  condition_days int
)
PARTITIONED BY (dt string, detector string)
STORED AS PARQUET
LOCATION '${location}/findings/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.detector.type' = 'enum',
  'projection.detector.values' = '${detectors}',
  'storage.location.template' = '${location}/findings/dt=${dt}/detector=${detector}/'
);
