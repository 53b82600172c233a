"""What a run is scored by: losses and accuracies, BLEU, the attention's alignment and liveness, the forecasting baselines."""
