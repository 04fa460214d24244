"""Who may act: API tokens and the admins who sign in to the pages."""
