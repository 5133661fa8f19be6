SELECT
  e.model AS model,
  AVG(CASE WHEN e.metric_name = 'smape' THEN e.metric_value END) AS mean_smape,
  COUNT(DISTINCT e.timeseries_id) AS series_count
FROM prd_sales.gold.sales_weekly_evaluation_output AS e
GROUP BY
  e.model
ORDER BY
  mean_smape ASC NULLS LAST,
  model ASC NULLS LAST
