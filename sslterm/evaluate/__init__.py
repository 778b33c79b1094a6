"""How well a run's representations transfer: linear probe, kNN, fine-tuning, supervised baseline (torch, no UI)."""
