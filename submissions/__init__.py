"""A student's submitted code, run against the suite's own local stand-ins (issue 13).

sandbox.py runs each submitted file in a process of its own (child.py) with no credentials, a
time limit per call and connections to loopback only; apps.py presents its classes to the checks
as the suite's reference classes are presented. Plain Python: the fixtures wrap it.
"""
