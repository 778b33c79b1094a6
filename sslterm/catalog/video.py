"""Catalog declarations for the video modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry, P, format_param

ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry(
        "modality",
        "video",
        "Clips as float tensors [N, T, C, H, W] in [0, 1] (T frames of C×H×W).",
        # no horizontal flip by default: it turns motion to the right into motion to the left
        extra={"default_augment": ("temporal_crop", "frame_drop", "random_resized_crop", "color_jitter",
                                   "grayscale")},
    ),
    # ---- datasets ---------------------------------------------------------------------
    Entry(
        "dataset",
        "moving_shapes",
        "Procedurally generated RGB clips of one shape moving over a textured background, "
        "labelled by its motion (10 classes: right, left, up, down, clockwise, anticlockwise, "
        "grow, shrink, orbit, static) with random shape, colours, position, speed and size; "
        "a single frame does not tell the class. Generated from a seed, nothing downloaded.",
        modalities=("video",),
        impl="sslterm.data.video:build_moving_shapes",
        params=(
            P("num_samples", int, 4096, "Clips in the training split.", low=64, high=1_000_000),
            P("num_eval", int, 512, "Labelled held-out clips.", low=16, high=100_000),
            P("frames", int, 8, "Frames per clip (T).", low=2, high=64),
            P("image_size", int, 32, "Height and width of each frame in pixels.", low=16, high=128),
            P("upright", bool, True, "Light from above: backgrounds brighten towards the top, so clips have an "
              "up, as photographs do (rotation prediction needs one); false: lit from any side."),
            P("falling", bool, False, "Motions have an up, as filmed ones do: a shape moving down is faster "
              "(3×) and one moving up slower (0.3×) than sideways ones (rotation learns motion from it)."),
            P("seed", int, 1234, "Seed of the generator (fixed data across runs).", low=0),
        ),
    ),
    Entry(
        "dataset",
        "video_files",
        "Your own clips: an .npz with an array x [N, T, C, H, W] or [N, T, H, W] (uint8, or float "
        "in [0, 1]; C 1 or 3) and optional labels y [N]; or a folder of clip folders of frame images "
        "(JPEG/PNG/WebP in name order; class folders of clip folders are labels; every clip keeps the "
        "first T frames, T the fewest any clip has). 10% is held out for evaluation.",
        modalities=("video",),
        impl="sslterm.data.video:build_video_files",
        params=(
            P("path", str, "", "An .npz file of clips, or a folder of clip folders of frames."),
            format_param("video"),
            P("image_size", int, 32, "Frames are centre-cropped to a square and resized to this side.",
              low=8, high=512),
            P("max_examples", int, 0, "Read at most this many clips (0: all).", low=0),
            P("seed", int, 0, "Seed of the train/eval split.", low=0),
        ),
    ),
    # ---- encoders ---------------------------------------------------------------------
    Entry(
        "encoder",
        "frame_transformer",
        "A small CNN applied to every frame, then a transformer over the frames with learned "
        "temporal positions, mean-pooled; tokens are frames, and it has a causal mode.",
        modalities=("video",),
        impl="sslterm.models.video:build_frame_transformer",
        extra={"tokens": True, "causal": True},
        params=(
            P("width", int, 8, "Channels of the frame CNN's first stage (doubled per stage).", low=4, high=512),
            P("stages", int, 2, "Downsampling stages of the frame CNN.", low=1, high=5),
            P("stem_stride", int, 2, "Stride of the frame CNN's first convolution.", low=1, high=4),
            P("dim", int, 64, "Width of the temporal transformer (and of the features).", low=8, high=4096),
            P("depth", int, 2, "Transformer blocks over the frames.", low=1, high=48),
            P("heads", int, 4, "Attention heads (must divide dim).", low=1, high=64),
            P("grid", int, 4, "Each frame's CNN feature map is average-pooled to grid × grid cells, kept apart "
              "(1: global pooling, blind to where things are).", low=1, high=32),
            P("frame_diff", bool, True, "Also show the frame CNN each frame's change since the previous frame "
              "(RGB difference, as in TSN), so motion is visible from the first layer; stays causal."),
            P("target_size", int, 8, "Token targets: each frame average-pooled to this many cells per side.",
              low=1, high=64),
            P("targets", str, "frames", "What a frame's token target is (masked, inpainting, next-token): its "
              "pooled pixels (frames), its pooled change since the previous frame (change: motion, as MotionMAE "
              "reconstructs temporal differences), both side by side, or where the frame changed in any colour "
              "(motion: the absolute change averaged over channels, so the colours of shape and background do not "
              "enter the target).", choices=("frames", "change", "both", "motion")),
            P("norm", str, "batch", "Frame CNN normalisation: batch (learns motion fastest; in training its batch "
              "statistics faintly mix frames) or group (each frame alone: strictly causal in training too).",
              choices=("batch", "group")),
        ),
    ),
    # ---- augmentations ----------------------------------------------------------------
    Entry(
        "augmentation",
        "temporal_crop",
        "Take a random contiguous part of each clip (min_fraction to all of its frames) and "
        "resample it back to T frames (nearest frame, order kept).",
        modalities=("video",),
        impl="sslterm.augment.video:temporal_crop",
        extra={"targets": "view"},
        params=(
            P("min_fraction", float, 0.5, "Shortest sub-clip as a fraction of the frames (1: identity).",
              low=0.0, high=1.0, low_open=True),
        ),
    ),
    Entry(
        "augmentation",
        "frame_drop",
        "Drop each frame with probability p; a dropped frame repeats the last kept one "
        "(the first frame is always kept).",
        modalities=("video",),
        impl="sslterm.augment.video:frame_drop",
        params=(P("p", float, 0.2, "Probability of dropping each frame.", low=0.0, high=1.0),),
    ),
)
