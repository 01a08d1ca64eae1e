"""Task wrappers over a loaded model: classify, generate, seq2seq, and the task registry."""
