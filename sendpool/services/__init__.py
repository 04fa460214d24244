"""Use cases the faces (CLI, API, pages) call: each parses nothing and renders nothing."""
