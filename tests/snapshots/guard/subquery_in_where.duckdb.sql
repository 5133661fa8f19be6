SELECT
  sales_overall.date AS date,
  sales_overall.sales AS sales
FROM prd_sales.gold.sales_overall AS sales_overall
WHERE
  sales_overall.timeseries_id IN (
    SELECT
      mapping_timeseries_id_product.timeseries_id AS timeseries_id
    FROM prd_sales.gold.mapping_timeseries_id_product AS mapping_timeseries_id_product
    WHERE
      mapping_timeseries_id_product.brand = 'ETORKI'
  )
  AND sales_overall.type = 'train'
LIMIT 10000
