"""Seeded faults: proof that every check of the suites fails for the right reason (see runner.py)."""
