SELECT
  o.date AS date,
  m.product AS product,
  SUM(o.sales) AS forecast_units,
  SUM(o.sales_lower) AS sales_lower,
  SUM(o.sales_upper) AS sales_upper
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  m.brand IN ('ETORKI') AND o.type = 'predict'
GROUP BY
  o.date,
  m.product
ORDER BY
  date ASC,
  product ASC
