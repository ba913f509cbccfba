"""dblab: the Hands-On Database Lab as a pytest conformance suite (see README.md)."""

import pytest

# The plugin modules import each other; rewrite them all before the first import.
pytest.register_assert_rewrite("fixtures")

pytest_plugins = ["fixtures.plugin", "fixtures.steps", "fixtures.environment"]
