-- primary_key: order_id
-- One row per web order with its basket: line count, units, item revenue and categories.
SELECT
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    o.order_total,
    COUNT(i.line_number) AS line_count,
    COALESCE(SUM(i.quantity), 0) AS units,
    COALESCE(SUM(i.line_total), 0) AS items_revenue,
    COUNT(DISTINCT i.category) AS category_count,
    CONCAT_WS(',', ARRAY_SORT(COLLECT_SET(i.category))) AS categories
FROM ecom_orders AS o
LEFT JOIN ecom_order_items AS i
    ON i.order_id = o.order_id
GROUP BY o.order_id, o.customer_id, o.order_date, o.status, o.order_total
