SELECT
  sales_weekly_evaluation_output.model AS model,
  sales_weekly_evaluation_output.backtest_window_start_date AS backtest_window_start_date,
  ARRAY_MAX(sales_weekly_evaluation_output.forecast) AS peak_forecast,
  SIZE(sales_weekly_evaluation_output.actual) AS horizon,
  sales_weekly_evaluation_output.forecast[0] AS first_week
FROM prd_sales.gold.sales_weekly_evaluation_output AS sales_weekly_evaluation_output
LIMIT 10000
