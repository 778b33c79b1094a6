"""The training core: data, augmentations, encoders, objectives and the loop (imports torch)."""
