-- Customers, revenue and average order value per state, from the Customer 360.
SELECT m.state,
       count(*) AS customers,
       sum(coalesce(t.lifetime_revenue, 0)) AS revenue,
       sum(coalesce(t.lifetime_revenue, 0)) / nullif(sum(coalesce(t.lifetime_order_count, 0)), 0)
         AS average_order_value
FROM merged_customers m
LEFT JOIN transaction_attributes t ON t.amperity_id = m.amperity_id
GROUP BY m.state
