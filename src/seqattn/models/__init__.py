"""Model definitions: attention scores, cells, encoders, decoders and the seq2seq wiring."""
