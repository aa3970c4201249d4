"""Filters between the teacher and training: every synthetic example is kept or rejected with a
named reason."""
