WITH totals AS (
  SELECT
    sales_overall.timeseries_id AS timeseries_id,
    SUM(sales_overall.sales) AS total
  FROM prd_sales.gold.sales_overall AS sales_overall
  WHERE
    sales_overall.type = 'train'
  GROUP BY
    sales_overall.timeseries_id
), ranked AS (
  SELECT
    t.timeseries_id AS timeseries_id,
    t.total AS total,
    RANK() OVER (ORDER BY t.total DESC) AS pos
  FROM totals AS t
)
SELECT
  m.product AS product,
  r.total AS total
FROM ranked AS r
JOIN prd_sales.gold.mapping_timeseries_id_product AS m
  ON m.timeseries_id = r.timeseries_id
WHERE
  r.pos <= 5
ORDER BY
  r.total DESC
LIMIT 10000
