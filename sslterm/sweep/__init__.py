"""Sweeps: many trials of one experiment (a grid, random search, seeds), queued and run as slots free up."""
