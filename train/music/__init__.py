"""The melody model behind ``edgernn generate MODEL --midi OUT.mid`` (task "music"): scores,
the event LSTM (the char LM's embedding + stacked LSTM + head), training, export, evaluation."""
