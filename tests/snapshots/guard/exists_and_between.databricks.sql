SELECT
  m.product AS product
FROM prd_sales.gold.mapping_timeseries_id_product AS m
WHERE
  EXISTS(
    SELECT
      1 AS `1`
    FROM prd_sales.gold.sales_overall AS s
    WHERE
      s.timeseries_id = m.timeseries_id
      AND s.type = 'predict'
      AND s.date BETWEEN CAST('2025-01-06' AS DATE) AND CAST('2025-03-31' AS DATE)
  )
LIMIT 10000
