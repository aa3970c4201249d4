"""The trained student as files people deploy: merged HF, GGUF and its quantizations, a LoRA
adapter, an Ollama Modelfile; the base exported the same way; `serve` and `ask`."""
