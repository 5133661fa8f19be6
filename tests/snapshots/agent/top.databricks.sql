SELECT
  m.product AS product,
  SUM(CASE WHEN o.type = 'train' THEN o.sales END) AS actual_sales
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  (
    o.date >= CAST('2025-01-01' AS DATE) AND o.date < CAST('2026-01-01' AS DATE)
  )
  AND o.type = 'train'
GROUP BY
  m.product
ORDER BY
  actual_sales DESC
LIMIT 10
