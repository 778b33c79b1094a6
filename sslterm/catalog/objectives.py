"""Catalog declarations of the pretext objectives and the modalities each one supports."""

from __future__ import annotations

from sslterm.catalog import Entry, P

ALL = ("image", "text", "audio", "video", "graph")

_MOMENTUM = P("momentum", float, 0.99, "Base momentum τ of the EMA teacher, raised to 1 along a cosine "
              "(the papers use 0.996 for long runs).", low=0.0, high=0.9999)

_CLEAN = ("The targets are the clean input: crops and flips choose what is seen, other augmentations corrupt "
          "the input only, token deletion and speed perturbation are not applied; held-out metrics use no "
          "augmentation.")
"""What augmentations do for the objectives whose targets are the input (see augment.Pipeline)."""

ENTRIES: tuple[Entry, ...] = (
    # ---- objectives -------------------------------------------------------------------
    Entry(
        "objective",
        "infonce",
        "Contrastive InfoNCE (SimCLR's NT-Xent by default): two views of each example, positives "
        "on the diagonal, the other examples in the batch as negatives.",
        modalities=ALL,
        impl="sslterm.objectives.infonce:InfoNCE",
        params=(
            P("temperature", float, 0.2, "Softmax temperature τ.", low=0.0, high=10.0, low_open=True),
            P("negatives", str, "both_views",
              "both_views: SimCLR's NT-Xent, each view scored against both views of every other example "
              "(2N−2 negatives, chance loss ln(2N−1)); cross_view: CPC/CLIP's form, logits = z1·z2ᵀ/τ with "
              "cross-entropy against the diagonal in both directions, averaged (N−1 negatives from the "
              "other view only, chance loss ln N).", choices=("both_views", "cross_view")),
        ),
        extra={"views": 2, "needs": ()},
    ),
    Entry(
        "objective",
        "byol",
        "BYOL (Grill et al. 2020): an online encoder, projector and predictor regress the projection "
        "an EMA target network makes of the other view (2 − 2·cos, symmetric); no negatives.",
        modalities=ALL,
        impl="sslterm.objectives.byol:BYOL",
        params=(_MOMENTUM,),
        extra={"views": 2, "needs": ()},
    ),
    Entry(
        "objective",
        "dino",
        "DINO (Caron et al. 2021): a student matches the centred, sharpened prototype distribution "
        "of an EMA teacher on the other view (cross-entropy, both directions).",
        modalities=ALL,
        impl="sslterm.objectives.dino:DINO",
        params=(
            P("out_dim", int, 256, "Number of prototypes K the heads score.", low=2, high=65536),
            P("student_temp", float, 0.1, "Student softmax temperature τ_s.", low=0.0, high=10.0, low_open=True),
            P("teacher_temp", float, 0.04, "Teacher softmax temperature τ_t (sharpening: below τ_s).",
              low=0.0, high=10.0, low_open=True),
            P("warmup_teacher_temp", float, 0.04, "τ_t at step 0, moved linearly to teacher_temp over "
              "teacher_temp_warmup of training (DINO: 0.04 to 0.07 over its first 30 epochs).",
              low=0.0, high=10.0, low_open=True),
            P("teacher_temp_warmup", float, 0.0, "Fraction of the steps over which τ_t warms up (0: constant "
              "teacher_temp).", low=0.0, high=1.0),
            P("center_momentum", float, 0.9, "EMA rate of the centre of teacher outputs.", low=0.0, high=0.9999),
            _MOMENTUM,
        ),
        extra={"views": 2, "needs": ()},
    ),
    Entry(
        "objective",
        "vicreg",
        "VICReg (Bardes, Ponce, LeCun 2022): invariance (MSE between views), a variance hinge per "
        "dimension and a covariance penalty on an expander's outputs; no negatives, no teacher.",
        modalities=ALL,
        impl="sslterm.objectives.vicreg:VICReg",
        params=(
            P("sim_coeff", float, 25.0, "Weight λ of the invariance term.", low=0.0),
            P("std_coeff", float, 25.0, "Weight μ of the variance term.", low=0.0),
            P("cov_coeff", float, 1.0, "Weight ν of the covariance term.", low=0.0),
            P("gamma", float, 1.0, "Target standard deviation γ of each dimension.", low=0.0, low_open=True),
            P("eps", float, 1e-4, "ε added to the variance before the square root.", low=0.0, high=1.0,
              low_open=True),
        ),
        extra={"views": 2, "needs": ()},
    ),
    Entry(
        "objective",
        "barlow_twins",
        "Barlow Twins (Zbontar et al. 2021): drive the cross-correlation of two views' batch-normalised "
        "embeddings to the identity (invariance on the diagonal, redundancy reduction off it).",
        modalities=ALL,
        impl="sslterm.objectives.barlow_twins:BarlowTwins",
        params=(
            P("lambd", float, 5e-3, "Weight λ of the off-diagonal (redundancy) term.", low=0.0, high=10.0),
        ),
        extra={"views": 2, "needs": ()},
    ),
    Entry(
        "objective",
        "masked",
        "Masked prediction (BERT, MAE, SimMIM): hide random tokens and predict their targets; the "
        "loss counts hidden tokens only (cross-entropy for ids, MSE for pixels, samples, features). " + _CLEAN,
        modalities=ALL,
        impl="sslterm.objectives.masked:MaskedPrediction",
        params=(
            P("mask_ratio", float, 0.5, "Fraction of each example's tokens to hide (at least one).",
              low=0.0, high=0.99, low_open=True),
            P("normalize_targets", bool, True, "Standardise each token's continuous target (as in MAE)."),
            P("head_hidden", int, 0, "Hidden width of the prediction head (0: linear).", low=0, high=8192),
            P("predict", str, "input", "What hidden tokens are predicted as: the input's own targets (input: "
              "pixels, samples, ids), or an EMA teacher's layer-normalised tokens of the clean, whole input "
              "(teacher: data2vec, V-JEPA), which say what the input means there rather than what it looked like.",
              choices=("input", "teacher")),
            _MOMENTUM,
        ),
        extra={"views": 1, "needs": ("tokens",), "targets_are_input": True},
    ),
    Entry(
        "objective",
        "inpainting",
        "Inpainting (Context Encoders, Pathak et al. 2016): hide one contiguous block of the token "
        "grid and reconstruct it from the visible context; the loss counts the hidden block only. " + _CLEAN,
        modalities=("image", "text", "audio", "video"),
        impl="sslterm.objectives.inpainting:Inpainting",
        params=(
            P("region", float, 0.25, "Fraction of the token grid the hidden block covers.",
              low=0.0, high=0.99, low_open=True),
            P("normalize_targets", bool, False, "Standardise each token's continuous target."),
            P("head_hidden", int, 128, "Hidden width of the decoder (0: linear).", low=0, high=8192),
        ),
        extra={"views": 1, "needs": ("tokens",), "targets_are_input": True},
    ),
    Entry(
        "objective",
        "next_token",
        "Autoregressive prediction (GPT; APC for audio frames): a causal encoder predicts the token "
        "`shift` steps ahead from the tokens so far (cross-entropy with bits per token, or MSE/L1). " + _CLEAN,
        modalities=("text", "audio", "video", "image"),
        impl="sslterm.objectives.next_token:NextToken",
        params=(
            P("shift", int, 1, "How many tokens ahead to predict (1: next token).", low=1, high=64),
            P("loss", str, "mse", "Error on continuous targets.", choices=("mse", "l1")),
            P("head_hidden", int, 0, "Hidden width of the prediction head (0: linear).", low=0, high=8192),
            P("normalize_targets", bool, False, "Standardise each token's continuous target (as in MAE), so "
              "the head predicts its pattern, not its mean and scale."),
            P("causal_features", bool, False, "Probes, kNN and snapshots read the encoder in causal mode, as it "
              "was trained (the mean of its causal tokens); false: its usual bidirectional output."),
        ),
        extra={"views": 1, "needs": ("tokens", "causal"), "targets_are_input": True},
    ),
    Entry(
        "objective",
        "rotation",
        "Rotation prediction (RotNet, Gidaris et al. 2018): rotate each image (or clip) by k·90° "
        "and classify k from pooled features; needs square images.",
        modalities=("image", "video"),
        impl="sslterm.objectives.rotation:RotationPrediction",
        params=(),
        extra={"views": 1, "needs": ()},
    ),
    Entry(
        "objective",
        "temporal_order",
        "Temporal order (Shuffle and Learn; Lee et al. 2017): cut the time axis into equal segments, "
        "shuffle them by one of n! permutations and classify which from pooled features.",
        modalities=("video", "audio", "text"),
        impl="sslterm.objectives.temporal_order:TemporalOrder",
        params=(
            P("segments", int, 3, "Number of segments n (n! classes).", low=2, high=6),
            P("per_segment", bool, False, "Encode each segment on its own with the shared encoder and classify "
              "their features side by side (Shuffle and Learn, OPN): no cut between segments is visible, so "
              "the order must be read from what each segment holds; false: the whole shuffled input at once."),
            P("head_hidden", int, 0, "Hidden width of the order classifier (0: linear).", low=0, high=8192),
            P("cut", str, "equal", "equal: n equal segments of the time axis; words (byte-level text): n runs of "
              "whole words, cut at spaces and rejoined with one space, so no cut splits a word and the order shows "
              "only in which words follow which.", choices=("equal", "words")),
            P("gap", float, 0.0, "Share of each segment, at its end, silenced (zeroed) before shuffling, so no "
              "two segments ever join seamlessly, in order or not (the gaps between jigsaw tiles, Noroozi and "
              "Favaro 2016): the order must come from what the segments hold, not from where the cuts are.",
              low=0.0, high=0.9),
        ),
        extra={"views": 1, "needs": ()},
    ),
)
