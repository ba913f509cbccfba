"""Student submissions for the self-tests of issue 13 (grading the student's own code)."""
