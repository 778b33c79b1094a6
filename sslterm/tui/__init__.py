"""The terminal app: a runs list and a live dashboard per run, reading run directories only (no torch)."""
