"""sendpool's own errors: one root, each mapped once at the edge where it arises.

SendpoolError
├── InputError            bad input from a user: nothing was changed
│   ├── CsvImportError    a file that cannot be read as CSV at all
│   └── TemplateError     a subject or body that is not a valid template
├── NotFoundError         a named thing (customer, plan, server) does not exist
└── ConfigError           settings or a pool file that cannot work
"""

from __future__ import annotations


class SendpoolError(Exception):
    """Root of every error sendpool raises on purpose."""


class InputError(SendpoolError, ValueError):
    """Input that was refused whole; the message says what to change."""


class CsvImportError(InputError):
    pass


class TemplateError(InputError):
    pass


class NotFoundError(SendpoolError, LookupError):
    pass


class ConfigError(SendpoolError):
    pass
