"""Synthetic data from the teacher: proposals per kind, then self-consistency by execution."""
