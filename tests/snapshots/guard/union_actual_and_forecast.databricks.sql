SELECT
  'actual' AS series,
  sales_overall.date AS date,
  SUM(sales_overall.sales) AS units
FROM prd_sales.gold.sales_overall AS sales_overall
WHERE
  sales_overall.type = 'train'
GROUP BY
  sales_overall.date
UNION ALL
SELECT
  'forecast' AS series,
  sales_overall.date AS date,
  SUM(sales_overall.sales) AS units
FROM prd_sales.gold.sales_overall AS sales_overall
WHERE
  sales_overall.type = 'predict'
GROUP BY
  sales_overall.date
LIMIT 10000
