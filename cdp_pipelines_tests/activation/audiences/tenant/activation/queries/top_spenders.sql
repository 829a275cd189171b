-- Customers worth at least 300 (three of the six test customers).
SELECT amperity_id, lifetime_revenue
FROM c360.customer_360
WHERE lifetime_revenue >= 300;
