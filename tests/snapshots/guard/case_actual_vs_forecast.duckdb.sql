SELECT
  s.date AS date,
  SUM(CASE WHEN s.type = 'train' THEN s.sales END) AS actual,
  SUM(CASE WHEN s.type = 'predict' THEN s.sales ELSE 0 END) AS forecast
FROM prd_sales.gold.sales_overall AS s
GROUP BY
  s.date
ORDER BY
  date
LIMIT 10000
