SELECT amperity_id,
       no_such_column
FROM c360.customer_360
