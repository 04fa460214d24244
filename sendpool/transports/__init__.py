"""Adapters that hand a message to a sending server: one module per server type."""
