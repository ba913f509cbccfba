"""Fairness as a test corpus (issue 9): student accounts built the way real students build them,
graded as an instructor grades them.

- `accounts`: one emulated account per student on one moto server (moto maps an assumed role's
  keys to its account), so variations never see each other's resources and need no reset;
- `build`: the lab's own commands replayed in this process (provisioning/lab_replay.py), edited
  the way a variation's student typed them, plus what the student did besides;
- `moto_state`: resource states AWS reports routinely and moto never does, set on moto's records;
- `grade`: `pytest -m aws --lab-grade` in a subprocess, and what a grade says about each step.
"""
