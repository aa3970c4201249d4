"""distill: a reproducible knowledge-distillation pipeline (teacher → synthetic data → student)."""
