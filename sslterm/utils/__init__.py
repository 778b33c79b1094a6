"""Leaf helpers below data, models, objectives, training and evaluation: torch, and nothing of sslterm's above them."""
