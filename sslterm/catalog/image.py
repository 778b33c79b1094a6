"""Catalog declarations for the image modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry, P

ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry("modality", "image", "Images as float tensors [N, C, H, W] in [0, 1]."),
    # ---- datasets ---------------------------------------------------------------------
    Entry(
        "dataset",
        "shapes",
        "Procedurally generated RGB images of 10 shape classes (disc, square, triangle, "
        "ring, cross, bars, ...) with random colour, size, position and background "
        "texture; labelled, generated on the device from a seed, nothing downloaded.",
        modalities=("image",),
        impl="sslterm.data.shapes:build_shapes",
        params=(
            P("num_samples", int, 8192, "Images in the training split.", low=64, high=2_000_000),
            P("num_eval", int, 1024, "Labelled held-out images.", low=16, high=200_000),
            P("image_size", int, 32, "Height and width in pixels.", low=16, high=128),
            P("seed", int, 1234, "Seed of the generator (fixed data across runs).", low=0),
        ),
    ),
    # ---- encoders ---------------------------------------------------------------------
    Entry(
        "encoder",
        "cnn",
        "A small ResNet-style convolutional encoder with global average pooling.",
        modalities=("image",),
        impl="sslterm.models.cnn:build_cnn",
        extra={"tokens": True, "causal": False},
        params=(
            P("width", int, 16, "Channels of the first stage (doubled per stage).", low=4, high=512),
            P("stages", int, 3, "Number of downsampling stages.", low=1, high=5),
            P("blocks", int, 1, "Residual blocks per stage.", low=1, high=8),
            P("stem_stride", int, 2, "Stride of the first convolution (2 halves the cost).", low=1, high=4),
        ),
    ),
    # ---- augmentations ----------------------------------------------------------------
    Entry(
        "augmentation",
        "random_resized_crop",
        "Crop a random area and aspect ratio of each image and resize it back.",
        modalities=("image", "video"),
        impl="sslterm.augment.image:random_resized_crop",
        params=(
            P("scale_min", float, 0.3, "Smallest crop area as a fraction of the image.", low=0.01, high=1.0),
            P("scale_max", float, 1.0, "Largest crop area as a fraction of the image.", low=0.01, high=1.0),
            P("ratio_min", float, 0.75, "Smallest aspect ratio (w/h).", low=0.1, high=10.0),
            P("ratio_max", float, 4 / 3, "Largest aspect ratio (w/h).", low=0.1, high=10.0),
        ),
    ),
    Entry(
        "augmentation",
        "horizontal_flip",
        "Mirror each image left to right with probability p.",
        modalities=("image", "video"),
        impl="sslterm.augment.image:horizontal_flip",
        params=(P("p", float, 0.5, "Probability of flipping an image.", low=0.0, high=1.0),),
    ),
    Entry(
        "augmentation",
        "color_jitter",
        "Random brightness, contrast, saturation and hue shifts, applied with probability p.",
        modalities=("image", "video"),
        impl="sslterm.augment.image:color_jitter",
        params=(
            P("p", float, 0.8, "Probability of jittering an image.", low=0.0, high=1.0),
            P("brightness", float, 0.4, "Max relative brightness change.", low=0.0, high=1.0),
            P("contrast", float, 0.4, "Max relative contrast change.", low=0.0, high=1.0),
            P("saturation", float, 0.4, "Max relative saturation change.", low=0.0, high=1.0),
            P("hue", float, 0.1, "Max hue rotation as a fraction of a turn.", low=0.0, high=0.5),
        ),
    ),
    Entry(
        "augmentation",
        "grayscale",
        "Convert each image to grayscale with probability p.",
        modalities=("image", "video"),
        impl="sslterm.augment.image:grayscale",
        params=(P("p", float, 0.2, "Probability of converting an image.", low=0.0, high=1.0),),
    ),
)
