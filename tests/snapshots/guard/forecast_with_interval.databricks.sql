SELECT
  s.date AS date,
  SUM(s.sales) AS forecast,
  SUM(s.sales_lower) AS lower,
  SUM(s.sales_upper) AS upper
FROM prd_sales.gold.sales_overall AS s
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON s.timeseries_id = m.timeseries_id
WHERE
  m.brand = 'ETORKI' AND s.type = 'predict'
GROUP BY ALL
ORDER BY
  date NULLS LAST
LIMIT 10000
