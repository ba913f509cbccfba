"""Read-only look-ups of the lab's resources, each returning what it found with its subject.

No pytest and no create or delete code here: checks, provisioning (to adopt what exists), the
grader's preflight and tunnel, and the sweeper all find the lab's resources through this layer.
"""
