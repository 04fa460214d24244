"""Request and response bodies of the JSON API, kept apart from the table models."""
