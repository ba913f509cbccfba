"""Grading a student's account: the rubric, step statuses and points, and the reports
(reports/grades/<student>.json and .html, reports/gradebook.csv). See grading/plugin.py."""
