SELECT
  weekly.date AS date,
  weekly.total AS total,
  weekly.total - LAG(weekly.total) OVER (ORDER BY weekly.date NULLS LAST) AS change,
  ROW_NUMBER() OVER (ORDER BY weekly.total DESC) AS rank_by_total
FROM (
  SELECT
    sales_overall.date AS date,
    SUM(sales_overall.sales) AS total
  FROM prd_sales.gold.sales_overall AS sales_overall
  WHERE
    sales_overall.type = 'train'
  GROUP BY
    sales_overall.date
) AS weekly
ORDER BY
  date NULLS LAST
LIMIT 10000
