"""Sending servers: create and change them, read them, check them, count what they sent."""
