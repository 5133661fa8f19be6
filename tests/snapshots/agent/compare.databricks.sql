SELECT
  CASE
    WHEN o.date >= CAST('2024-01-01' AS DATE) AND o.date < CAST('2025-01-01' AS DATE)
    THEN '2024'
    WHEN o.date >= CAST('2025-01-01' AS DATE) AND o.date < CAST('2026-01-01' AS DATE)
    THEN '2025'
  END AS period,
  MIN(o.date) AS period_start,
  SUM(CASE WHEN o.type = 'train' THEN o.sales END) AS actual_sales
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  (
    o.date >= CAST('2024-01-01' AS DATE) AND o.date < CAST('2025-01-01' AS DATE)
  )
  OR (
    o.date >= CAST('2025-01-01' AS DATE) AND o.date < CAST('2026-01-01' AS DATE)
  )
GROUP BY
  CASE
    WHEN o.date >= CAST('2024-01-01' AS DATE) AND o.date < CAST('2025-01-01' AS DATE)
    THEN '2024'
    WHEN o.date >= CAST('2025-01-01' AS DATE) AND o.date < CAST('2026-01-01' AS DATE)
    THEN '2025'
  END
ORDER BY
  period_start NULLS LAST
