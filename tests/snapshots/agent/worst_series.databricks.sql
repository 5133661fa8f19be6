WITH selected AS (
  SELECT DISTINCT
    o.timeseries_id,
    o.model
  FROM prd_sales.gold.sales_overall AS o
  WHERE
    o.type = 'predict'
)
SELECT
  s.timeseries_id AS timeseries_id,
  m.product AS product,
  m.sales_org AS sales_org,
  s.model AS model,
  AVG(CASE WHEN e.metric_name = 'smape' THEN e.metric_value END) AS mean_smape
FROM selected AS s
JOIN prd_sales.gold.sales_weekly_evaluation_output AS e
  ON e.timeseries_id = s.timeseries_id AND e.model = s.model
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON s.timeseries_id = m.timeseries_id
GROUP BY
  s.timeseries_id,
  m.product,
  m.sales_org,
  s.model
ORDER BY
  mean_smape DESC
LIMIT 10
