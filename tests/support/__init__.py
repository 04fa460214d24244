"""Helpers the tests share: fakes, scenarios, sinks, services and settings."""
