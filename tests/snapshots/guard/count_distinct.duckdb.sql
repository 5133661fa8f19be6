SELECT
  COUNT(
    DISTINCT COALESCE(sales_overall.timeseries_id, mapping_timeseries_id_product.timeseries_id)
  ) AS series,
  COUNT(*) AS weeks,
  COUNT(DISTINCT mapping_timeseries_id_product.brand) FILTER(WHERE
    NOT mapping_timeseries_id_product.brand IS NULL) AS brands
FROM prd_sales.gold.sales_overall AS sales_overall
JOIN prd_sales.gold.mapping_timeseries_id_product AS mapping_timeseries_id_product
  ON sales_overall.timeseries_id = mapping_timeseries_id_product.timeseries_id
LIMIT 10000
