"""Catalog declarations for the audio modality: its datasets, augmentations and encoders."""

from __future__ import annotations

from sslterm.catalog import Entry, P, format_param

_P = P("p", float, 1.0, "Probability of applying it to a clip.", low=0.0, high=1.0)

ENTRIES: tuple[Entry, ...] = (
    # ---- modalities -------------------------------------------------------------------
    Entry("modality", "audio", "Mono waveforms as float tensors [N, L] in about [-1, 1], one sample rate.",
          extra={"default_augment": ("random_crop", "speed_perturbation", "time_masking", "frequency_masking",
                                     "additive_noise")}),
    # ---- datasets ---------------------------------------------------------------------
    Entry(
        "dataset",
        "sounds",
        "Synthetic labelled sounds of 9 classes (tone, harmonics, chord, rising and falling chirp, "
        "tremolo, vibrato, noise burst, clicks) with random pitch, onset, duration and loudness "
        "over background noise; generated from a seed, nothing downloaded.",
        modalities=("audio",),
        impl="sslterm.data.audio:build_sounds",
        params=(
            P("num_samples", int, 8192, "Clips in the training split.", low=64, high=2_000_000),
            P("num_eval", int, 1024, "Labelled held-out clips.", low=16, high=200_000),
            P("sample_rate", int, 8000, "Samples per second.", low=2000, high=48000),
            P("length", int, 4096, "Samples per clip (4096 at 8 kHz ≈ 0.5 s).", low=256, high=131072),
            P("seed", int, 1234, "Seed of the generator (fixed data across runs).", low=0),
        ),
    ),
    Entry(
        "dataset",
        "audio_files",
        "Your own audio: a folder of PCM .wav or .flac files (FLAC needs pip install 'sslterm[data]'; one "
        "subfolder per class gives labels, searched recursively as in LibriSpeech; a flat folder is "
        "unlabelled), or an .npz with float x [N, L], optional labels y [N] and optional sample_rate. "
        "Mixed to mono, resampled, cut or zero-padded to one length; 10% held out.",
        modalities=("audio",),
        impl="sslterm.data.audio:build_audio_files",
        params=(
            P("path", str, "", "A folder of .wav/.flac files (or of class subfolders), or an .npz file."),
            format_param("audio"),
            P("sample_rate", int, 16000, "Rate every clip is resampled to (linear interpolation).",
              low=1000, high=192000),
            P("clip_seconds", float, 1.0, "Length of every clip: longer ones are cut, shorter zero-padded "
              "(auto: the signals' own length, at most 10 s).", low=0.0001, high=600.0),
            P("max_examples", int, 100_000, "Read at most this many clips (a fixed random subset).",
              low=2, high=10_000_000),
            P("seed", int, 0, "Seed of the subset and of the held-out split.", low=0),
        ),
    ),
    # ---- encoders ---------------------------------------------------------------------
    Entry(
        "encoder",
        "wave_cnn",
        "Strided 1-D convolutions on the raw waveform, mean-pooled over time; tokens are the last "
        "layer's positions (one chunk of stride**layers samples each).",
        modalities=("audio",),
        impl="sslterm.models.audio:build_wave_cnn",
        extra={"tokens": True, "causal": False},
        params=(
            P("width", int, 32, "Channels of the first layer (doubled twice, then kept).", low=4, high=512),
            P("layers", int, 4, "Strided convolution layers.", low=1, high=8),
            P("stride", int, 4, "Stride of every layer (kernel 2·stride).", low=2, high=8),
        ),
    ),
    Entry(
        "encoder",
        "mel_transformer",
        "Log-mel spectrogram computed inside the encoder (torch.stft), one token per frame, "
        "a transformer over the frames; causal mode for next-frame prediction.",
        modalities=("audio",),
        impl="sslterm.models.audio:build_mel_transformer",
        extra={"tokens": True, "causal": True},
        params=(
            P("n_fft", int, 256, "STFT window in samples (a multiple of hop).", low=16, high=8192),
            P("hop", int, 128, "Samples between frames: one token per hop.", low=8, high=8192),
            P("n_mels", int, 32, "Mel bands per frame.", low=4, high=256),
            P("dim", int, 64, "Width of the transformer.", low=8, high=2048),
            P("depth", int, 2, "Transformer blocks.", low=1, high=24),
            P("heads", int, 4, "Attention heads (must divide dim).", low=1, high=32),
        ),
    ),
    # ---- augmentations ----------------------------------------------------------------
    Entry(
        "augmentation",
        "additive_noise",
        "Add white Gaussian noise at a random signal-to-noise ratio per clip.",
        modalities=("audio",),
        impl="sslterm.augment.audio:additive_noise",
        params=(
            _P,
            P("snr_min", float, 5.0, "Lowest signal-to-noise ratio in dB (more noise).", low=-30.0, high=100.0),
            P("snr_max", float, 30.0, "Highest signal-to-noise ratio in dB (less noise).", low=-30.0, high=100.0),
        ),
    ),
    Entry(
        "augmentation",
        "time_masking",
        "Zero random spans of time in each clip (SpecAugment-style, on the waveform).",
        modalities=("audio",),
        impl="sslterm.augment.audio:time_masking",
        params=(
            _P,
            P("masks", int, 2, "Spans per clip.", low=0, high=32),
            P("max_fraction", float, 0.1, "Longest span as a fraction of the clip.", low=0.0, high=1.0),
        ),
    ),
    Entry(
        "augmentation",
        "frequency_masking",
        "Zero random frequency bands of each clip (STFT, mask bins, inverse STFT).",
        modalities=("audio",),
        impl="sslterm.augment.audio:frequency_masking",
        params=(
            _P,
            P("masks", int, 1, "Bands per clip.", low=0, high=16),
            P("max_fraction", float, 0.15, "Widest band as a fraction of the frequency bins.", low=0.0, high=1.0),
            P("n_fft", int, 256, "STFT window in samples (hop n_fft/4).", low=16, high=8192),
        ),
    ),
    Entry(
        "augmentation",
        "speed_perturbation",
        "Resample each clip by a random factor (faster clips are higher and end early, zero-padded).",
        modalities=("audio",),
        impl="sslterm.augment.audio:speed_perturbation",
        extra={"targets": "skip"},
        params=(
            _P,
            P("min_factor", float, 0.9, "Slowest playback speed.", low=0.25, high=4.0),
            P("max_factor", float, 1.1, "Fastest playback speed.", low=0.25, high=4.0),
        ),
    ),
    Entry(
        "augmentation",
        "random_crop",
        "Keep a random window of each clip, moved to the start, the rest zero-padded (not stretched).",
        modalities=("audio",),
        impl="sslterm.augment.audio:random_crop",
        extra={"targets": "view"},
        params=(
            _P,
            P("min_fraction", float, 0.6, "Shortest window as a fraction of the clip.", low=0.01, high=1.0),
        ),
    ),
)
