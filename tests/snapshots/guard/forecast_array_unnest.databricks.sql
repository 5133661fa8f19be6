SELECT
  sales_weekly_evaluation_output.timeseries_id AS timeseries_id,
  sales_weekly_evaluation_output.model AS model,
  EXPLODE(sales_weekly_evaluation_output.forecast) AS forecast
FROM prd_sales.gold.sales_weekly_evaluation_output AS sales_weekly_evaluation_output
WHERE
  sales_weekly_evaluation_output.metric_name = 'smape'
LIMIT 10000
