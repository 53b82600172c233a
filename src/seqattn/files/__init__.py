"""What a run writes and reads back: its workdir's guards, checkpoints, logs and plots."""
