SELECT
  m.sales_org AS sales_org,
  CAST(DATE_TRUNC('MONTH', o.date) AS DATE) AS month,
  SUM(CASE WHEN o.type = 'train' THEN o.sales END) AS actual_sales
FROM prd_sales.gold.sales_overall AS o
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON o.timeseries_id = m.timeseries_id
WHERE
  o.type = 'train'
GROUP BY
  m.sales_org,
  CAST(DATE_TRUNC('MONTH', o.date) AS DATE)
ORDER BY
  sales_org ASC,
  month ASC
