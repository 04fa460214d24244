"""The pool as configuration as code: the pool file and applying it."""
