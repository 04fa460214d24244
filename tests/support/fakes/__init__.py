"""Local stand-ins for the vendors' HTTP APIs, served on 127.0.0.1 for the transport tests."""
