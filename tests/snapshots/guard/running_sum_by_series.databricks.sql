SELECT
  sales_overall.timeseries_id AS timeseries_id,
  sales_overall.date AS date,
  SUM(sales_overall.sales) OVER (
    PARTITION BY sales_overall.timeseries_id
    ORDER BY sales_overall.date NULLS LAST
    ROWS BETWEEN 3 PRECEDING AND CURRENT ROW
  ) AS last_4_weeks
FROM prd_sales.gold.sales_overall AS sales_overall
WHERE
  sales_overall.type = 'train'
LIMIT 10000
