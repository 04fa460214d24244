"""Tests of the transports against real servers on loopback: moto for SES, fakes for the rest."""
