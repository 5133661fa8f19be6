WITH repeated_lines AS (
  SELECT
    order_id,
    order_line
  FROM prd_sales.silver.fact_sales_orders
  GROUP BY
    order_id,
    order_line
  HAVING
    COUNT(*) > 1
), joined AS (
  SELECT
    f.order_id,
    f.order_line,
    f.order_date,
    f.customer_id,
    f.material_id,
    f.sales_org,
    f.quantity,
    f.net_value,
    c.customer_group,
    m.material_description,
    m.brand,
    CASE
      WHEN f.order_id IS NULL
      OR f.order_line IS NULL
      OR f.order_date IS NULL
      OR f.customer_id IS NULL
      OR f.material_id IS NULL
      OR f.sales_org IS NULL
      THEN 'null_key'
      WHEN o.sales_org IS NULL
      THEN 'unknown_sales_org'
      WHEN m.material_id IS NULL
      THEN 'unknown_material'
      WHEN c.customer_id IS NULL
      THEN 'unknown_customer'
      WHEN f.quantity < 0
      THEN 'negative_quantity'
    END AS row_reason
  FROM prd_sales.silver.fact_sales_orders AS f
  LEFT JOIN prd_sales.silver.dim_sales_org AS o
    ON f.sales_org = o.sales_org
  LEFT JOIN prd_sales.silver.dim_material AS m
    ON f.material_id = m.material_id
  LEFT JOIN prd_sales.silver.dim_customer AS c
    ON f.customer_id = c.customer_id
), classified AS (
  SELECT
    j.order_id,
    j.order_line,
    j.order_date,
    j.customer_id,
    j.material_id,
    j.sales_org,
    j.quantity,
    j.net_value,
    j.customer_group,
    j.material_description,
    j.brand,
    j.row_reason AS reject_reason
  FROM joined AS j
  WHERE
    NOT EXISTS(
      SELECT
        1
      FROM repeated_lines AS r
      WHERE
        r.order_id = j.order_id AND r.order_line = j.order_line
    )
  UNION ALL
  SELECT
    j.order_id,
    j.order_line,
    j.order_date,
    j.customer_id,
    j.material_id,
    j.sales_org,
    j.quantity,
    j.net_value,
    j.customer_group,
    j.material_description,
    j.brand,
    COALESCE(
      j.row_reason,
      CASE
        WHEN ROW_NUMBER() OVER (
          PARTITION BY j.order_id, j.order_line
          ORDER BY j.row_reason, j.order_date NULLS LAST, j.customer_id NULLS LAST, j.material_id NULLS LAST, j.sales_org NULLS LAST, j.quantity NULLS LAST, j.net_value NULLS LAST
        ) > 1
        THEN 'duplicate_order_line'
      END
    ) AS reject_reason
  FROM joined AS j
  WHERE
    EXISTS(
      SELECT
        1
      FROM repeated_lines AS r
      WHERE
        r.order_id = j.order_id AND r.order_line = j.order_line
    )
)
SELECT
  order_date AS date,
  sales_org,
  material_id,
  material_description AS product,
  brand,
  SUM(quantity) AS quantity,
  SUM(net_value) AS net_value
FROM classified
WHERE
  reject_reason IS NULL AND customer_group IS DISTINCT FROM 'ZCD4'
GROUP BY
  order_date,
  sales_org,
  material_id,
  material_description,
  brand
