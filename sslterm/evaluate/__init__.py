"""How well a run's representations transfer: linear probe, kNN, fine-tuning and the supervised baseline (torch, no UI)."""
