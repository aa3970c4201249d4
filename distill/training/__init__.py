"""Student training: SFT (LoRA or full) and soft-label distillation, logged through dvclive."""
