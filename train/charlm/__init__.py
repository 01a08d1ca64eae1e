"""The character-level language model behind ``edgernn generate`` (task "generate"): corpus,
model, training, export."""
