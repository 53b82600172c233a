"""A trained model at work: decoding, evaluation on a split, prediction from a workdir."""
