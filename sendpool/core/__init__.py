"""Pure dispatch decisions: no I/O, no clock, no randomness of its own.

Everything here takes time (and any random draw) as an argument, so the rules
that decide where a message goes can be tested without a database or a network.
"""
