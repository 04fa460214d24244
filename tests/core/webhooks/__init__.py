"""The pure readers of vendor webhooks: each vendor's shapes and signature schemes."""
