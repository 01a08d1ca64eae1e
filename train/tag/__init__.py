"""Named-entity tagging: CoNLL data, a BiLSTM-CRF (or a streaming LSTM-CRF), training, export."""
