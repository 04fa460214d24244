"""Messages: transactional mail, and the per-message log."""
