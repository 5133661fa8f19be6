SELECT
  COUNT(DISTINCT m.product) AS product_count
FROM prd_sales.gold.mapping_timeseries_id_product AS m
WHERE
  m.brand IN ('ETORKI')
