"""Sequence classification (sensor windows or text): data, the model, training, export."""
