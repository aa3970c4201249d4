"""Execution-based evaluation: run models on a split, grade through the task, summarize."""
