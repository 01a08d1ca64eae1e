"""The stream runner: order, admit, batch into ticks, emit; checkpoints and acks; stats."""
