SELECT
  sales_overall.date AS date,
  SUM(sales_overall.sales) AS units
FROM prd_sales.gold.sales_overall AS sales_overall
GROUP BY
  sales_overall.date
LIMIT 10000
