"""seqattn: RNN encoder-decoders with attention in JAX/Flax."""
