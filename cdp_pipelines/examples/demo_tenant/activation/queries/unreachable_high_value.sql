SELECT amperity_id, lifetime_revenue
FROM c360.customer_360
WHERE lifetime_revenue > 500 AND NOT contactable_email AND NOT contactable_phone
