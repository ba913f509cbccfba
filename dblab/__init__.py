"""The dblab command line: sweep leftovers (and, later, grade and compare benchmarks)."""
