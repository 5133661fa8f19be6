SELECT
  o.date AS date,
  o.type AS type,
  SUM(o.sales) AS sales,
  SUM(o.sales_lower) AS sales_lower,
  SUM(o.sales_upper) AS sales_upper
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  m.product IN ('ETORKI PORT 250G FAMILIAL X8 FR')
GROUP BY
  o.date,
  o.type
ORDER BY
  date ASC NULLS LAST,
  type ASC NULLS LAST
