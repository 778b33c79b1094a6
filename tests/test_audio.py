"""Audio modality: the generated sounds, user WAV/npz data, augmentations and both encoders."""

from __future__ import annotations

import math
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from sslterm import catalog
from sslterm.augment import Pipeline
from sslterm.augment import audio as A
from sslterm.config import from_overrides
from sslterm.data import build_dataset, decode
from sslterm.models import build_encoder
from sslterm.objectives import Context, build_objective

SR, L = 8000, 2048


def sounds(n: int = 90, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    d = build_dataset("sounds", {"num_samples": n, "num_eval": 18, "sample_rate": SR, "length": L, "seed": seed})
    assert d.y_train is not None
    return d.train["x"], d.y_train


# ---- the sounds dataset ----------------------------------------------------------------------

def test_sounds_are_deterministic_labelled_balanced_and_in_range() -> None:
    opts = {"num_samples": 180, "num_eval": 27, "sample_rate": SR, "length": L, "seed": 5}
    a, b = build_dataset("sounds", opts), build_dataset("sounds", opts)
    assert torch.equal(a.train["x"], b.train["x"]) and torch.equal(a.y_eval, b.y_eval)
    other = build_dataset("sounds", {**opts, "seed": 6})
    assert not torch.equal(a.train["x"], other.train["x"])
    assert a.train["x"].shape == (180, L) and a.train["x"].dtype == torch.float32
    assert a.eval["x"].shape == (27, L)
    assert a.train["x"].abs().max() <= 1 and a.train["x"].abs().amax(dim=1).min() > 0.1, "every clip is audible"
    assert a.info == {"sample_rate": SR, "length": L, "num_classes": 9} and len(a.classes) == 9
    assert torch.bincount(a.y_train, minlength=9).tolist() == [20] * 9
    assert not torch.equal(a.train["x"][:27], a.eval["x"]), "held-out clips differ from training clips"


def test_a_tone_peaks_at_one_pitch_in_range_and_a_noise_burst_is_spread() -> None:
    x, y = sounds()
    spectrum = torch.fft.rfft(x, dim=1).abs()
    freqs = torch.fft.rfftfreq(L, 1 / SR)
    tone, noise = spectrum[y == 0], spectrum[y == 7]
    peak = freqs[tone.argmax(dim=1)]
    assert (peak > SR / 50 * 0.9).all() and (peak < SR / 6.5 * 1.1).all()
    # fraction of the spectral energy in the 5 strongest bins: a tone concentrates it, noise does not
    def top5(s: torch.Tensor) -> torch.Tensor:
        p = s.pow(2)
        return p.topk(5, dim=1).values.sum(1) / p.sum(1)
    assert top5(tone).mean() > 0.6 and top5(noise).mean() < 0.3


# ---- augmentations -----------------------------------------------------------------------------

AUGS = catalog.names("augmentation", "audio")


def params(name: str, **changes: float) -> dict:
    return {**catalog.get("augmentation", name).defaults(), **changes}


def test_every_audio_augmentation_is_declared_and_implemented() -> None:
    assert set(AUGS) == {"additive_noise", "time_masking", "frequency_masking", "speed_perturbation", "random_crop"}
    for name in AUGS:
        assert catalog.implementation("augmentation", name) is getattr(A, name)


@pytest.mark.parametrize("name", AUGS)
def test_augmentation_shape_determinism_and_per_sample_randomness(name: str) -> None:
    x, _ = sounds(n=18)
    p = params(name, p=1.0)
    a = getattr(A, name)(x, p, torch.Generator().manual_seed(1))
    b = getattr(A, name)(x, p, torch.Generator().manual_seed(1))
    c = getattr(A, name)(x, p, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b), "same seed, same views"
    assert not torch.equal(a, c), "another seed, other views"
    same = getattr(A, name)(x[:1].expand(8, -1).contiguous(), p, torch.Generator().manual_seed(3))
    assert not torch.allclose(same[0], same[1]), "each clip draws its own parameters"


@pytest.mark.parametrize("name", AUGS)
def test_augmentation_is_identity_when_never_applied(name: str) -> None:
    x, _ = sounds(n=9)
    assert torch.equal(getattr(A, name)(x, params(name, p=0.0), torch.Generator()), x)


def test_augmentations_are_identity_at_zero_strength() -> None:
    x, _ = sounds(n=9)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(A.time_masking(x, params("time_masking", max_fraction=0.0), g), x)
    assert torch.equal(A.frequency_masking(x, params("frequency_masking", max_fraction=0.0), g), x)
    assert torch.equal(A.speed_perturbation(x, params("speed_perturbation", min_factor=1.0, max_factor=1.0), g), x)
    assert torch.equal(A.random_crop(x, params("random_crop", min_fraction=1.0), g), x)
    quiet = A.additive_noise(x, params("additive_noise", snr_min=80.0, snr_max=80.0), g)
    assert (quiet - x).norm() / x.norm() < 1e-3


def test_additive_noise_hits_the_drawn_snr() -> None:
    x, _ = sounds(n=18)
    out = A.additive_noise(x, params("additive_noise", snr_min=10.0, snr_max=20.0), torch.Generator().manual_seed(0))
    snr = 10 * torch.log10(x.pow(2).mean(1) / (out - x).pow(2).mean(1))
    assert (snr > 9.5).all() and (snr < 20.5).all() and snr.std() > 1, "per-clip SNR inside the range"


def test_time_masking_zeroes_exactly_the_drawn_spans() -> None:
    x = torch.rand(16, 500) + 0.5                                  # no zeros of its own
    p = params("time_masking", masks=1, max_fraction=0.3)
    out = A.time_masking(x, p, torch.Generator().manual_seed(4))
    spans = A.random_spans(16, 500, 1, 0.3, torch.Generator().manual_seed(4), x.device)
    assert torch.equal(out == 0, spans) and torch.equal(out[~spans], x[~spans])
    runs = (spans[:, 1:] & ~spans[:, :-1]).sum(1) + spans[:, 0].long()
    assert (runs <= 1).all() and spans.any(), "one contiguous span per clip"
    assert spans.sum(1).max() <= 150


def test_frequency_masking_removes_the_energy_of_its_band_only() -> None:
    n, length, n_fft = 12, 4096, 256
    x = torch.randn(n, length, generator=torch.Generator().manual_seed(0)) * 0.2
    p = params("frequency_masking", masks=1, max_fraction=0.2, n_fft=n_fft)
    out = A.frequency_masking(x, p, torch.Generator().manual_seed(7))
    band = A.random_spans(n, n_fft // 2 + 1, 1, 0.2, torch.Generator().manual_seed(7), x.device)  # replayed
    fx, fo = torch.fft.rfft(x, dim=1).abs().pow(2), torch.fft.rfft(out, dim=1).abs().pow(2)
    stft_bin = torch.arange(fx.shape[1]) * n_fft / length           # each FFT bin in STFT bins
    for i in range(n):                                              # a test may loop over samples
        cols = band[i].nonzero().squeeze(1)
        if len(cols) < 4:
            continue
        inner = (stft_bin > cols.min() + 1.5) & (stft_bin < cols.max() - 1.5)
        outer = (stft_bin < cols.min() - 3) | (stft_bin > cols.max() + 3)
        assert fo[i, inner].sum() < 0.02 * fx[i, inner].sum(), "the band is emptied"
        assert torch.isclose(fo[i, outer].sum(), fx[i, outer].sum(), rtol=0.05), "the rest is kept"


def test_speed_perturbation_reads_the_clip_at_factor_times_t() -> None:
    x = torch.randn(4, 400)
    twice = A.speed_perturbation(x, params("speed_perturbation", min_factor=2.0, max_factor=2.0), torch.Generator())
    assert torch.allclose(twice[:, :200], x[:, ::2], atol=1e-5) and (twice[:, 200:] == 0).all()
    half = A.speed_perturbation(x, params("speed_perturbation", min_factor=0.5, max_factor=0.5), torch.Generator())
    assert torch.allclose(half[:, ::2], x[:, :200], atol=1e-5)
    assert torch.allclose(half[:, 1::2][:, :199], (x[:, :199] + x[:, 1:200]) / 2, atol=1e-5), "linear interpolation"


def test_random_crop_keeps_one_window_at_the_start_and_pads_with_zeros() -> None:
    x = torch.arange(1, 1001, dtype=torch.float32).repeat(32, 1)     # sample value = position + 1
    out = A.random_crop(x, params("random_crop", min_fraction=0.4), torch.Generator().manual_seed(0))
    kept = (out != 0).sum(1)
    assert (kept >= 400).all() and (kept <= 1000).all() and kept.unique().numel() > 5
    for row, k in zip(out, kept, strict=True):
        assert (row[1:k] - row[: k - 1] == 1).all() and (row[k:] == 0).all(), "a contiguous window, then zeros"


# ---- encoders --------------------------------------------------------------------------------

def encoder(name: str, **changes: int) -> torch.nn.Module:
    enc = build_encoder(name, {"sample_rate": SR, "length": L, "num_classes": 9},
                        {**catalog.get("encoder", name).defaults(), **changes})
    return enc.eval()


@pytest.mark.parametrize(("name", "tokens", "target_dim"),
                         [("wave_cnn", L // 256, 256), ("mel_transformer", L // 128, 32)])
def test_encoder_shapes_and_token_contract(name: str, tokens: int, target_dim: int) -> None:
    enc = encoder(name)
    x, _ = sounds(n=9)
    x = x[:4]
    assert enc(x).shape == (4, enc.out_dim)
    assert enc.token_grid == (tokens,)
    assert enc.tokens(x).shape == (4, tokens, enc.token_dim)
    assert enc.token_targets(x).shape == (4, tokens, target_dim)
    assert enc.valid_tokens(x) is None
    assert catalog.get("encoder", name).extra["tokens"] is True


def test_wave_cnn_hides_the_chunks_of_hidden_tokens() -> None:
    enc = encoder("wave_cnn")
    x, _ = sounds(n=9)
    mask = torch.zeros(9, 8, dtype=torch.bool)
    mask[:, 2] = True
    mask[0, 5] = True
    h = enc.hide(x, mask)
    chunks = enc.token_targets(h)
    assert (chunks[mask] == 0).all() and torch.equal(chunks[~mask], enc.token_targets(x)[~mask])
    assert not torch.allclose(enc.tokens(h), enc.tokens(x))
    with pytest.raises(NotImplementedError, match="causal"):
        enc.tokens(x, causal=True)


def test_mel_transformer_hides_whole_windows_so_a_hidden_frame_sees_nothing() -> None:
    enc = encoder("mel_transformer")                                   # n_fft 256, hop 128: 2 chunks a frame
    x, _ = sounds(n=9)
    mask = torch.zeros(9, 16, dtype=torch.bool)
    mask[:, 6] = True
    h = enc.hide(x, mask)
    assert (h[:, 5 * 128: 7 * 128] == 0).all(), "frame 6's window: chunks 5 and 6"
    assert torch.equal(h[:, : 5 * 128], x[:, : 5 * 128]) and torch.equal(h[:, 7 * 128:], x[:, 7 * 128:])
    floor = math.log(1e-5)
    assert torch.allclose(enc.log_mel(h)[:, 6], torch.full((9, 32), floor)), "nothing of frame 6 is left"
    assert not torch.allclose(enc.tokens(h), enc.tokens(x))


def test_mel_transformer_in_causal_mode_never_sees_later_samples() -> None:
    enc = encoder("mel_transformer")
    x, _ = sounds(n=9)
    later = x.clone()
    later[:, 8 * 128:] = torch.randn(9, L - 8 * 128)                  # change chunks 8.. only
    causal, changed = enc.tokens(x, causal=True), enc.tokens(later, causal=True)
    assert torch.allclose(causal[:, :8], changed[:, :8], atol=1e-5), "frames 0..7 unchanged"
    assert not torch.allclose(causal[:, 8:], changed[:, 8:])
    assert not torch.allclose(enc.tokens(x)[:, :8], enc.tokens(later)[:, :8]), "bidirectional mode does see them"


def test_mel_transformer_reads_a_shorter_waveform_as_its_first_frames() -> None:
    enc = encoder("mel_transformer")                                   # 16 frames of hop 128
    x, _ = sounds(n=9)
    short = x[:, : 5 * 128 + 60]                                       # 5 whole hops, as temporal order's segments
    assert torch.allclose(enc.log_mel(short), enc.log_mel(x)[:, :5]), "a frame ends where it would in the clip"
    assert enc.tokens(short).shape == (9, 5, enc.token_dim) and enc(short).shape == (9, enc.out_dim)
    with pytest.raises(ValueError, match="shorter than one hop"):
        enc(x[:, :100])


def test_mel_filterbank_and_encoder_argument_checks() -> None:
    enc = encoder("mel_transformer")
    fb = enc.filters                                                   # [bins, mels]
    assert fb.shape == (129, 32) and (fb.sum(0) > 0).all(), "no empty mel band"
    assert (fb.argmax(0).diff() >= 0).all(), "bands rise in frequency"
    with pytest.raises(ValueError, match="multiple of hop"):
        encoder("mel_transformer", n_fft=200, hop=128)
    with pytest.raises(ValueError, match="divisible"):
        encoder("mel_transformer", dim=30, heads=4)
    with pytest.raises(ValueError, match="shorter than one token"):
        encoder("wave_cnn", layers=6)


def test_encoders_learn_from_gradients() -> None:
    for name in ("wave_cnn", "mel_transformer"):
        enc = encoder(name).train()
        x, _ = sounds(n=9)
        enc(x).pow(2).mean().backward()
        grads = [p.grad for p in enc.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


# ---- the user's own audio --------------------------------------------------------------------

def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2) -> None:
    """Write float samples [L] or [L, channels] in [-1, 1] as PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = samples.reshape(len(samples), -1)
    data = (a * 127 + 128).astype(np.uint8) if width == 1 else (a * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(a.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(data.tobytes())


def files_options(path: Path, **changes: object) -> dict:
    return {**catalog.get("dataset", "audio_files").defaults(), "path": str(path), "sample_rate": 8000,
            "clip_seconds": 0.25, **changes}


def test_wav_folder_round_trip_with_labels_resampling_and_mono(tmp_path: Path) -> None:
    t16 = np.arange(16000 // 2) / 16000
    for i in range(6):
        write_wav(tmp_path / "hum" / f"a{i}.wav", 0.5 * np.sin(2 * np.pi * 440 * t16), 16000)  # 0.5 s at 16 kHz
        stereo = np.stack([np.full(1000, 0.5), np.full(1000, -0.25)], axis=1)                 # mean 0.125
        write_wav(tmp_path / "quiet" / "sub" / f"b{i}.WAV", stereo, 8000, width=1)
    d = build_dataset("audio_files", files_options(tmp_path))
    assert d.classes == ("hum", "quiet") and d.info == {"sample_rate": 8000, "length": 2000, "num_classes": 2}
    assert d.size("train") == 11 and d.size("eval") == 1
    assert d.train["x"].dtype == torch.int16, "prepared as int16 samples"
    x = decode(torch.cat([d.train["x"], d.eval["x"]]))
    y = torch.cat([d.y_train, d.y_eval])
    assert x.shape == (12, 2000) and torch.bincount(y).tolist() == [6, 6]
    hum, quiet = x[y == 0], x[y == 1]
    peak = torch.fft.rfftfreq(2000, 1 / 8000)[torch.fft.rfft(hum, dim=1).abs().argmax(1)]
    assert torch.allclose(peak, torch.tensor(440.0)), "resampled 16 kHz → 8 kHz, pitch kept"
    assert torch.allclose(quiet[:, :1000], torch.tensor(0.125), atol=0.01) and (quiet[:, 1000:] == 0).all()
    again = build_dataset("audio_files", files_options(tmp_path))
    assert torch.equal(again.eval["x"], d.eval["x"]), "the held-out split is fixed"


def test_flat_wav_folder_is_unlabelled_and_long_clips_are_cut(tmp_path: Path) -> None:
    for i in range(20):
        write_wav(tmp_path / f"{i}.wav", np.full(4000, i / 40), 8000)
    d = build_dataset("audio_files", files_options(tmp_path, max_examples=15))
    assert d.y_train is None and d.y_eval is None and d.info["num_classes"] == 0
    assert d.size("train") + d.size("eval") == 15 and d.size("eval") == 2, "the shared split: round(15 x 0.1)"
    assert d.train["x"].shape[1] == 2000


def test_npz_with_and_without_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (30, 1000)).astype(np.float32)
    x[:, 0] = np.arange(30) % 3 / 10                                  # the label, readable in the clip
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(30) % 3, sample_rate=4000)
    d = build_dataset("audio_files", files_options(tmp_path / "a.npz"))
    assert d.classes == ("0", "1", "2") and d.info["num_classes"] == 3
    assert d.size("eval") == 3 and d.train["x"].shape == (27, 2000), "resampled 4 kHz → 8 kHz"
    assert torch.allclose(d.train["x"][:, 0] * 10, d.y_train.float()), "labels follow their clips"
    few = build_dataset("audio_files", files_options(tmp_path / "a.npz", max_examples=10))
    assert few.size("train") == 9 and torch.allclose(few.eval["x"][:, 0] * 10, few.y_eval.float())
    np.savez(tmp_path / "b.npz", x=x)
    d = build_dataset("audio_files", files_options(tmp_path / "b.npz"))
    assert d.y_train is None and d.train["x"].shape == (27, 2000)
    assert (d.train["x"][:, 1000:] == 0).all(), "no rate given: taken as sample_rate, zero-padded"


def _good(p: Path) -> None:
    write_wav(p / "good.wav", np.zeros(10), 8000)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: (_good(p), (p / "x.wav").write_text("hello")), "1 of 2 audio files cannot be read.*not a readable"),
    (lambda p: _good(p) or (p / "x.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x03\x00\x01\x00"
                                          + b"\x40\x1f\x00\x00\x00\x7d\x00\x00\x04\x00\x20\x00data\x00\x00\x00\x00"),
     "unknown format: 3"),
    (lambda p: None, "0 .wav/.flac file"),
    (lambda p: (write_wav(p / "a.wav", np.zeros(10), 8000), write_wav(p / "c" / "b.wav", np.zeros(10), 8000)),
     "mixes audio files with class subfolders"),
    (lambda p: write_wav(p / "a.wav", np.zeros(10), 8000), "1 .wav/.flac file"),
])
def test_bad_folders_are_one_line_errors(tmp_path: Path, make: Callable[[Path], object], message: str) -> None:
    make(tmp_path)
    with pytest.raises(ValueError, match=message) as err:
        build_dataset("audio_files", files_options(tmp_path))
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros(100, np.float32)}, r"x float32 \[100\]"),
    ({"x": np.zeros((4, 100), np.int16)}, "x int16"),
    ({"y": np.zeros(4, np.int64)}, "no x"),
    ({"x": np.zeros((4, 100), np.float32), "y": np.zeros(5, np.int64)}, "does not fit"),
    ({"x": np.zeros((4, 100), np.float32), "y": np.zeros(4, np.float32)}, "does not fit"),
    ({"x": np.full((4, 100), np.nan, np.float32)}, "NaN"),
])
def test_bad_npz_files_are_one_line_errors(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=message) as err:
        build_dataset("audio_files", files_options(tmp_path / "d.npz"))
    assert "\n" not in str(err.value) and "expected an .npz" in str(err.value)


def test_config_accepts_audio_and_selects_user_files_from_a_path(tmp_path: Path) -> None:
    exp = from_overrides(["data.modality=audio", "model.encoder=wave_cnn"])
    assert exp.data.dataset == "sounds" and exp.model.options["layers"] == 4
    exp = from_overrides(["data.modality=audio", f"data.path='{tmp_path}'", "model.encoder=mel_transformer"])
    assert exp.data.dataset == "audio_files" and exp.data.options["sample_rate"] == 16000


@pytest.mark.parametrize("encoder_name", ["wave_cnn", "mel_transformer"])
def test_every_audio_objective_takes_a_step_on_each_encoder_it_fits(encoder_name: str) -> None:
    x, _ = sounds(n=9)
    pipe = Pipeline({"additive_noise": params("additive_noise")})
    tried = []
    for name in catalog.names("objective", "audio"):
        entry = catalog.get("objective", name)
        if not all(catalog.get("encoder", encoder_name).extra.get(n) for n in entry.extra.get("needs", ())):
            continue
        enc = encoder(encoder_name).train()
        obj = build_objective(name, Context(enc, {"sample_rate": SR, "length": L, "num_classes": 9}, 32, 16),
                              entry.defaults())
        loss, _ = obj({"x": x[:8]}, pipe, torch.Generator().manual_seed(0))
        loss.backward()
        assert torch.isfinite(loss) and any(p.grad is not None for p in enc.parameters()), name
        tried.append(name)
    assert {"infonce", "masked"} <= set(tried)
    assert ("next_token" in tried) == (encoder_name == "mel_transformer")


def test_flac_folders_librispeech_layout_through_soundfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    for speaker in ("19", "26"):                                 # LibriSpeech: speaker/chapter/*.flac
        for i in range(3):
            f = tmp_path / speaker / "198" / f"{speaker}-198-{i:04d}.flac"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(speaker)
    monkeypatch.setitem(sys.modules, "soundfile", None)          # not installed: one line saying what to install
    with pytest.raises(ValueError, match=r"reading FLAC needs the soundfile package.*pip install 'sslterm\[data\]'"):
        build_dataset("audio_files", files_options(tmp_path))
    fake = types.ModuleType("soundfile")

    def read(path: str, dtype: str, always_2d: bool) -> tuple[np.ndarray, int]:
        level = int(Path(path).read_text()) / 100                # stereo at 16 kHz, channels averaged to `level`
        return np.stack([np.full(4000, level + 0.1), np.full(4000, level - 0.1)], 1).astype(np.float32), 16000

    fake.read = read  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "soundfile", fake)
    d = build_dataset("audio_files", files_options(tmp_path))
    assert d.classes == ("19", "26") and d.train["x"].shape[1] == 2000 and d.size("train") + d.size("eval") == 6
    x = decode(torch.cat([d.train["x"], d.eval["x"]]))
    assert d.y_train is not None and d.y_eval is not None
    y = torch.cat([d.y_train, d.y_eval])
    assert torch.allclose(x[:, 0], torch.tensor([0.19, 0.26])[y], atol=1e-4), "mono, by speaker, resampled to 8 kHz"


# ---- audio folders prepared once into the data cache ---------------------------------------------

def test_audio_folder_prepared_once_reused_rebuilt_and_bad_files_listed(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sslterm.data.prepare_media import prepare_audio
    from sslterm.prepared import entries

    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    for i in range(9):                                          # 44.1 kHz stereo, nested folders
        write_wav(src / "spk" / "ch" / f"{i}.wav", np.full((4410, 2), i / 20), 44100, width=2)
    (src / "spk" / "ch" / "9.wav").write_bytes(b"RIFF not really")             # unreadable: skipped and listed
    entry, m = prepare_audio(src, 8000, 1000, max_bad=0.2, workers=1)
    assert m["kind"] == "audio" and m["shape"] == [1000] and m["dtype"] == "int16" and m["classes"] == ["spk"]
    assert m["counts"] == {"train": 8, "eval": 1, "bad": 1, "files": 10} and m["bad_files"] == ["spk/ch/9.wav"]
    train = np.fromfile(entry / "train.i16", dtype=np.int16).reshape(8, 1000)
    levels = sorted([*train[:, 0].tolist(), int(np.fromfile(entry / "eval.i16", np.int16)[0])])
    assert np.allclose(levels, [i / 20 * 32767 for i in range(9)], atol=2), "every readable file once, mono, its level"
    loud = train[train[:, 0] != 0]
    assert (train[:, 800:] == 0).all() and (loud[:, :800] != 0).all(), "0.1 s: 800 samples at 8 kHz, then zeros"
    stamp = (entry / "train.i16").stat().st_mtime_ns
    assert prepare_audio(src, 8000, 1000, max_bad=0.2, workers=1) == (entry, m)
    assert prepare_audio(src, 8000, 1000, limit=100_000, max_bad=0.2, workers=1)[0] == entry, "a run's default limit"
    assert (entry / "train.i16").stat().st_mtime_ns == stamp, "a second preparation does no work"
    write_wav(src / "spk" / "ch" / "0.wav", np.full(8000, 0.5), 8000)          # a changed file: prepared again
    _, changed = prepare_audio(src, 8000, 1000, max_bad=0.2, workers=1)
    assert changed["fingerprint"] != m["fingerprint"] and len(entries()) == 1
    loudest = max(np.fromfile(entry / "train.i16", np.int16).max(), np.fromfile(entry / "eval.i16", np.int16).max())
    assert abs(loudest - 0.5 * 32767) <= 2, "the changed file's new samples"
    with pytest.raises(ValueError, match=r"1 of 10 audio files cannot be read \(more than 1%\), e\.g\. spk/ch/9\.wav"):
        prepare_audio(src, 8000, 999, workers=1)                  # the same share refused under the default limit


def test_two_steps_streamed_from_a_prepared_audio_folder(tmp_path: Path) -> None:
    from sslterm import config
    from sslterm.store import create_run
    from sslterm.train.loop import train

    for i in range(12):
        write_wav(tmp_path / "src" / ("a" if i % 2 else "b") / f"{i}.wav", np.sin(np.arange(2000) * (i + 1) / 50), 8000)
    exp = config.from_overrides([
        "data.modality=audio", f"data.path='{tmp_path / 'src'}'", "data.sample_rate=8000", "data.clip_seconds=0.25",
        "data.on_device=false", "data.workers=0", "model.encoder=wave_cnn", "model.width=4",
        "model.projector_hidden=16", "model.projector_dim=8", "train.steps=2", "train.batch_size=4",
        "train.log_every=1", "eval.every=0"])
    run = create_run(tmp_path / "runs", "audio")
    assert train(exp, run, lambda: False, lambda step, device: None).step == 2
    assert [r["step"] for r in run.metrics()] == [1, 2] and all(math.isfinite(r["loss"]) for r in run.metrics())


def test_a_real_flac_file_when_soundfile_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    soundfile = pytest.importorskip("soundfile")
    from sslterm.data.prepare_media import prepare_audio

    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(tmp_path / "cache"))
    for i in range(3):
        f = tmp_path / "src" / "19" / "198" / f"19-198-{i:04d}.flac"
        f.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(f), np.full((16000, 2), 0.25, np.float32), 16000, format="FLAC")
    entry, m = prepare_audio(tmp_path / "src", 8000, 4000, workers=1)
    x = np.fromfile(entry / "train.i16", np.int16)
    assert m["counts"]["bad"] == 0 and x.size == 2 * 4000 and abs(int(x[0]) - 0.25 * 32767) <= 2
