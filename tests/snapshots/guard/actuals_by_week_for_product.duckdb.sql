SELECT
  s.date AS date,
  SUM(s.sales) AS sales
FROM prd_sales.gold.sales_overall AS s
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON s.timeseries_id = m.timeseries_id
WHERE
  m.product = 'ETORKI PORT 250G FAMILIAL X8 FR' AND s.type = 'train'
GROUP BY
  s.date
ORDER BY
  date
LIMIT 10000
