"""Provisioning for the Hands-On Database Lab: plain Python, no pytest.

Everything that creates, binds or deletes lab resources lives here so that the pytest
fixtures, the grader and the command-line sweeper share one implementation.
"""
