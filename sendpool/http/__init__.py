"""The HTTP process's composition: one app with the JSON API and the admin pages side by side.

``context`` is what both faces depend on (the runtime, the time); ``app``
builds the application from ``sendpool.api`` and ``sendpool.web``, which
never import each other.
"""
