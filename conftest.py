"""dblab: the Hands-On Database Lab as a pytest conformance suite (see README.md)."""

pytest_plugins = ["fixtures.plugin", "fixtures.steps", "fixtures.environment", "fixtures.apps", "fixtures.interrupts", "grading.plugin", "fixtures.benchmarks",
                  "fixtures.allure_labels"]
