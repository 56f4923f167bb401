"""The customer database: schema, a small repository layer, and demo seeding."""
