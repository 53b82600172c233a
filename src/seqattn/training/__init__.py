"""Training: optimiser and schedules (optim), the jitted step (step), the host-side record of a
run (progress) and the run itself (run: resume, checkpoints, signals, logs, early stopping)."""
