"""Expectations: `expect` statements checked on the live network (`pipenet test`)."""
