SELECT
  sales_weekly_evaluation_output.model AS model,
  sales_weekly_evaluation_output.backtest_window_start_date AS backtest_window_start_date,
  LIST_AVG(sales_weekly_evaluation_output.forecast) AS mean_forecast,
  LENGTH(sales_weekly_evaluation_output.actual) AS horizon
FROM prd_sales.gold.sales_weekly_evaluation_output AS sales_weekly_evaluation_output
LIMIT 10000
