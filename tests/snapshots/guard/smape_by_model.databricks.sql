SELECT
  sales_weekly_evaluation_output.model AS model,
  AVG(sales_weekly_evaluation_output.metric_value) AS smape,
  COUNT(*) AS windows
FROM prd_sales.gold.sales_weekly_evaluation_output AS sales_weekly_evaluation_output
WHERE
  sales_weekly_evaluation_output.metric_name = 'smape'
GROUP BY
  sales_weekly_evaluation_output.model
ORDER BY
  smape NULLS LAST
LIMIT 10000
