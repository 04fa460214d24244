"""sendpool: send email through a rotating pool of sending servers."""

__version__ = "0.1.0"
