SELECT DISTINCT
  m.product AS product
FROM prd_sales.gold.mapping_timeseries_id_product AS m
WHERE
  m.brand IN ('ETORKI')
ORDER BY
  product ASC
