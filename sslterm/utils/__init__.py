"""Leaf helpers below data, models, objectives, training and evaluation: they import torch and nothing of sslterm's."""
