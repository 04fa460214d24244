"""Vendor event webhooks: verification, reading, and the routes that take them."""
