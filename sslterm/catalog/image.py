"""Catalog declarations for the image modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry, P, format_param

ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry(
        "modality",
        "image",
        "Images as float tensors [N, C, H, W] in [0, 1].",
        extra={"default_augment": ("random_resized_crop", "horizontal_flip", "color_jitter", "grayscale")},
    ),
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
            P("upright", bool, False, "Draw shapes unrotated over a background lit from above (gives rotation "
              "prediction a 'which way is up' to learn)."),
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
        extra={"targets": "view"},
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
        extra={"targets": "view"},
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
    Entry(
        "augmentation",
        "gaussian_blur",
        "Blur each image with a Gaussian of random width, with probability p.",
        modalities=("image", "video"),
        impl="sslterm.augment.image:gaussian_blur",
        params=(
            P("p", float, 0.5, "Probability of blurring an image.", low=0.0, high=1.0),
            P("sigma_min", float, 0.1, "Smallest σ in pixels.", low=0.0, high=20.0),
            P("sigma_max", float, 1.5, "Largest σ in pixels.", low=0.0, high=20.0),
        ),
    ),
    Entry(
        "augmentation",
        "solarize",
        "Invert the pixels above a threshold, with probability p.",
        modalities=("image", "video"),
        impl="sslterm.augment.image:solarize",
        params=(
            P("p", float, 0.2, "Probability of solarizing an image.", low=0.0, high=1.0),
            P("threshold", float, 0.5, "Pixels at or above this value are inverted.", low=0.0, high=1.0),
        ),
    ),
    Entry(
        "encoder",
        "vit",
        "A Vision Transformer: non-overlapping patches, learned positions, pre-norm blocks, mean pooling. "
        "Patches are its tokens; a causal mode (raster order) supports next-token prediction.",
        modalities=("image",),
        impl="sslterm.models.vit:build_vit",
        extra={"tokens": True, "causal": True},
        params=(
            P("patch_size", int, 4, "Side of a square patch in pixels (must divide image_size).", low=1, high=64),
            P("dim", int, 64, "Token width.", low=8, high=4096),
            P("depth", int, 2, "Transformer blocks.", low=1, high=48),
            P("heads", int, 4, "Attention heads (must divide dim).", low=1, high=64),
            P("targets", str, "pixels", "What a patch's token target is (masked, inpainting, next-token): its pixels, "
              "or its edge map (edges: the absolute difference to the neighbouring pixels, averaged over channels, "
              "so only where colours meet enters it, not which colours they are).", choices=("pixels", "edges")),
        ),
    ),
    Entry(
        "dataset",
        "image_files",
        "Your own images: a folder of JPEG/PNG/WebP files of any size (subfolders are class labels; a "
        "flat folder is unlabelled), decoded once over every core into a memory-mapped cache that later "
        "runs reuse (sslterm data prepare/ls/rm; unreadable files are skipped and listed); WebDataset "
        "uncompressed .tar shards given by a pattern (shards/train-{000000..000146}.tar; image members, "
        "optional .cls labels), Parquet files or a Hugging Face save_to_disk folder (an image column and an "
        "optional label column; a DatasetDict's validation or test split is held out), prepared the same way; "
        "or an .npz with "
        "an array x [N, C, H, W] or [N, H, W] (uint8, or float in [0, 1]) and optional labels y [N]. "
        "10% is held out for evaluation.",
        modalities=("image",),
        impl="sslterm.data.image_files:load_image_files",
        params=(
            P("path", str, "", "A folder of JPEG/PNG/WebP images (or class subfolders of them), WebDataset "
              ".tar shards (a {000..009} pattern), Parquet files (a file, a folder or a glob), a Hugging Face "
              "save_to_disk folder, or an .npz file."),
            format_param("image"),
            P("image_column", str, "image", "Parquet and Hugging Face data: the column of encoded images (bytes, "
              "or Hugging Face's {bytes, path} Image struct)."),
            P("label_column", str, "label", "Parquet and Hugging Face data: the column of labels (integers, "
              "ClassLabel or strings); none such: unlabelled."),
            P("image_size", int, 32, "Images are centre-cropped to a square and resized to this side.",
              low=8, high=512),
            P("max_examples", int, 0, "Read at most this many examples (0: all).", low=0),
            P("seed", int, 0, "Seed of the train/eval split.", low=0),
        ),
    ),
)
