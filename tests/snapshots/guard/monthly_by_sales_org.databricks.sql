SELECT
  m.sales_org_name AS sales_org_name,
  DATE_TRUNC('MONTH', s.date) AS month,
  SUM(s.sales) AS units
FROM prd_sales.gold.sales_overall AS s
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON s.timeseries_id = m.timeseries_id
WHERE
  s.type = 'train' AND s.date >= CAST('2024-01-01' AS DATE)
GROUP BY ALL
ORDER BY
  month NULLS LAST,
  units DESC
LIMIT 10000
