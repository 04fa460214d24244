"""Signed vendor webhook requests for tests, made with keys the tests create."""
