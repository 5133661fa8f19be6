SELECT
  YEAR(sales_overall.date) AS yr,
  QUARTER(sales_overall.date) AS q,
  DATE_FORMAT(sales_overall.date, 'yyyy-MM') AS month_label,
  DATEDIFF(WEEK, sales_overall.date, CAST('2025-01-06' AS DATE)) AS weeks_before,
  sales_overall.date + INTERVAL '7' DAY AS next_week,
  ROUND(SUM(sales_overall.sales), 1) AS units
FROM prd_sales.gold.sales_overall AS sales_overall
WHERE
  sales_overall.date < CURRENT_DATE
GROUP BY ALL
LIMIT 10000
