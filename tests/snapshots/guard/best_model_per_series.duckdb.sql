SELECT
  sales_weekly_evaluation_output.timeseries_id AS timeseries_id,
  sales_weekly_evaluation_output.model AS model,
  AVG(sales_weekly_evaluation_output.metric_value) AS smape
FROM prd_sales.gold.sales_weekly_evaluation_output AS sales_weekly_evaluation_output
GROUP BY
  sales_weekly_evaluation_output.timeseries_id,
  sales_weekly_evaluation_output.model
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY sales_weekly_evaluation_output.timeseries_id
    ORDER BY AVG(sales_weekly_evaluation_output.metric_value)
  ) = 1
LIMIT 10000
