"""Page view-models: what each admin page shows, built from the services."""
