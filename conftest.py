"""dblab: the Hands-On Database Lab as a pytest conformance suite (see README.md)."""

pytest_plugins = ["fixtures.plugin", "fixtures.steps", "fixtures.environment", "fixtures.apps", "grading.plugin", "fixtures.benchmarks"]
