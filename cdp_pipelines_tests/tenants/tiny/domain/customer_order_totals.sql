-- primary_key: customer_id
SELECT c.customer_id,
       count(o.order_id) AS orders,
       coalesce(sum(o.total), 0) AS revenue
FROM shop_customers c
LEFT JOIN shop_orders o ON o.customer_id = c.customer_id
GROUP BY c.customer_id
