SELECT DISTINCT
  mapping_timeseries_id_product.brand AS brand,
  mapping_timeseries_id_product.product AS product
FROM prd_sales.gold.mapping_timeseries_id_product AS mapping_timeseries_id_product
WHERE
  mapping_timeseries_id_product.product ILIKE '%etorki%'
ORDER BY
  product
LIMIT 10000
