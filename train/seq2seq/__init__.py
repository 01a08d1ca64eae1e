"""Encoder-decoder seq2seq (``edgernn generate MODEL --input TEXT``): pairs, model, training,
the two-graph export."""
