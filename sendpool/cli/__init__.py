"""The ``sendpool`` command line."""
