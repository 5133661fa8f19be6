SELECT
  sales_weekly_evaluation_output.timeseries_id AS timeseries_id,
  sales_weekly_evaluation_output.model AS model,
  sales_weekly_evaluation_output.backtest_window_start_date AS backtest_window_start_date,
  sales_weekly_evaluation_output.metric_name AS metric_name,
  sales_weekly_evaluation_output.metric_value AS metric_value,
  sales_weekly_evaluation_output.forecast AS forecast,
  sales_weekly_evaluation_output.actual AS actual,
  sales_weekly_evaluation_output.run_id AS run_id,
  sales_weekly_evaluation_output.run_date AS run_date
FROM prd_sales.gold.sales_weekly_evaluation_output AS sales_weekly_evaluation_output
LIMIT 10000
