"""How well representations transfer: probes, kNN and collapse diagnostics (torch, no UI)."""
