"""Running the pool: doctor, simulation, rebalancing, observability and the audit log."""
