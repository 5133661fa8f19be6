SELECT
  LOWER(mapping_timeseries_id_product.product) AS p,
  UPPER(mapping_timeseries_id_product.brand) AS b,
  LENGTH(mapping_timeseries_id_product.product) AS n,
  COALESCE(
    NULLIF(TRIM(mapping_timeseries_id_product.sales_org_name), ''),
    mapping_timeseries_id_product.sales_org
  ) || ' / ' || mapping_timeseries_id_product.brand AS label
FROM prd_sales.gold.mapping_timeseries_id_product AS mapping_timeseries_id_product
WHERE
  STARTSWITH(mapping_timeseries_id_product.material_id, 'M')
LIMIT 10000
