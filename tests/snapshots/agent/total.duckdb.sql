SELECT
  SUM(CASE WHEN o.type = 'train' THEN o.sales END) AS actual_sales,
  SUM(CASE WHEN o.type = 'train' THEN o.sales END) / COUNT(DISTINCT CASE WHEN o.type = 'train' THEN o.date END) AS avg_weekly_actual_sales
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  (
    o.date >= CAST('2025-01-01' AS DATE) AND o.date < CAST('2026-01-01' AS DATE)
  )
  AND o.type = 'train'
