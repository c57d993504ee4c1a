-- lakesight: one Athena view per detector family over the findings table, with the names an analyst
-- reads in QuickSight. Rendered by `lakesight run` into <output>/findings_views.sql; run each
-- statement once in Athena (the views follow the table: new days and detectors need no change).
CREATE OR REPLACE VIEW ${database}.${table}_${family} AS
SELECT
  dt AS "Day",
  status AS "Status",
  first_seen AS "First seen",
  condition_days AS "Days ongoing",
  detector AS "Detector",
  severity AS "Severity",
  severity_id AS "Severity rank",
  score AS "Score",
  confidence AS "Confidence",
  title AS "Title",
  kind AS "Kind",
  account_id AS "Account",
  entity_type AS "Entity type",
  entity AS "Entity",
  principal AS "Principal",
  src_ip AS "Source IP",
  instance_id AS "Instance",
  domain AS "Domain",
  observed AS "Observed",
  expected AS "Expected",
  top_feature AS "Top feature",
  top_feature_value AS "Top feature value",
  mitre_technique_list AS "ATT&CK techniques",
  mitre_tactic_list AS "ATT&CK tactics",
  window_start AS "Window start",
  window_end AS "Window end",
  series_family AS "Series",
  finding_id AS "Finding ID",
  plot AS "Plot",
  condition_id AS "Condition ID"
FROM ${database}.${table}
WHERE detector_family = '${family}'
