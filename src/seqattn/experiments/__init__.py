"""Many runs and what they say together: sweeps, backtests, their tables and plots."""
