"""Local chat models behind one small interface: conversations in, text and latency out."""

from distill.inference.base import ChatModel, Generation

__all__ = ["ChatModel", "Generation"]
