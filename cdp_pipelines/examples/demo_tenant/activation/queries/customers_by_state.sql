SELECT state, count(*) AS customers, sum(lifetime_revenue) AS revenue
FROM c360.customer_360
GROUP BY state
ORDER BY revenue DESC
