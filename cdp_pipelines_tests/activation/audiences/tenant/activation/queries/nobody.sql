SELECT amperity_id FROM c360.customer_360 WHERE lifetime_revenue > 1000000
