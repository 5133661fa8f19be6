SELECT
  m.product AS product,
  m.sales_org AS sales_org,
  o.model AS model
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  m.brand IN ('ETORKI') AND o.type = 'predict'
GROUP BY
  m.product,
  m.sales_org,
  o.model
ORDER BY
  product ASC NULLS LAST,
  sales_org ASC NULLS LAST,
  model ASC NULLS LAST
