"""Campaign content: address checks, CSV lists and templates rendered per recipient."""
