SELECT
  m.brand AS brand,
  SUM(s.sales) AS total
FROM prd_sales.gold.sales_overall AS s
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON s.timeseries_id = m.timeseries_id
GROUP BY
  m.brand
ORDER BY
  total DESC
LIMIT 10
