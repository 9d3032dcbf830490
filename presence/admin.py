# Presence lives in Redis (or in process), not in the database: nothing to administer here.
