SELECT amperity_id,
       lifetime_revenue
FROM c360.no_such_table
