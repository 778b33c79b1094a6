"""Settings derived from the data's shape: each rule, the user's value always kept, resolved configs, varied shapes."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from sslterm import autoconf, autoscan, catalog, config
from sslterm.autoconf import Facts
from sslterm.launch import prepare
from sslterm.store.runs import CONFIG

# ---- the rules, pure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("modality", catalog.names("modality"))
def test_built_in_datasets_keep_the_catalog_defaults(modality: str) -> None:
    """At the shapes the defaults were made for, every rule gives the catalog's default."""
    for objective in catalog.names("objective", modality):
        exp = config.from_overrides([f"data.modality={modality}", f"objective.name={objective}"])
        assert exp.auto, f"{modality}/{objective}: nothing derived"
        for key, reason in exp.auto.items():
            section, _, name = key.partition(".")
            kind, entry = {"model": ("encoder", exp.model.encoder), "objective": ("objective", exp.objective.name)}.get(
                section, ("augmentation", name.split(".")[0]))
            value = exp.to_dict()[section][name] if section != "augment" else exp.augment[name.split(".")[0]][
                name.split(".")[1]]
            default = catalog.get(kind, entry).defaults()[key.rsplit(".", 1)[1]]
            assert value == default, f"{modality}/{objective}: {key} = {value} ({reason}), default {default}"
            assert reason.startswith(f"auto: {value:g}" if isinstance(value, float) else f"auto: {value}")


def _values(keyed: tuple[autoconf.Keyed, ...], facts: Facts, values: dict[str, object]) -> dict[str, object]:
    autoconf.derive(keyed, {k for k, _, _ in keyed}, values, facts)
    return values


@pytest.mark.parametrize(("length", "stride", "layers"), [(40, 2, 3), (160, 2, 3), (4096, 4, 4), (16000, 4, 4),
                                                          (480000, 4, 7)])
def test_wave_cnn_fits_its_positions_in_the_clip(length: int, stride: int, layers: int) -> None:
    keyed = autoconf.rules_for("sounds", "wave_cnn", "infonce", ("random_crop", "frequency_masking"))
    v = _values(keyed, Facts(length=length), {})
    assert (v["model.stride"], v["model.layers"]) == (stride, layers)
    assert 4 <= length // stride**layers <= 64
    assert int(v["augment.frequency_masking.n_fft"]) <= max(16, length // 4)       # type: ignore[call-overload]
    assert float(v["augment.random_crop.min_fraction"]) * length >= min(length, 32)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [40, 160, 4096, 100000])
def test_mel_transformer_has_at_least_a_few_frames(length: int) -> None:
    v = _values(autoconf.rules_for("sounds", "mel_transformer", "masked", ()), Facts(length=length), {})
    assert v["model.n_fft"] == 2 * int(v["model.hop"])                               # type: ignore[call-overload]
    assert length // int(v["model.hop"]) >= min(16, length // 8)                      # type: ignore[call-overload]
    assert int(v["model.n_mels"]) <= int(v["model.n_fft"]) // 2 + 1                   # type: ignore[call-overload]


@pytest.mark.parametrize(("side", "stem", "stages", "patch"), [(8, 1, 2, 1), (16, 1, 3, 2), (28, 1, 3, 2),
                                                                (32, 2, 3, 4), (64, 2, 4, 8), (256, 4, 5, 32)])
def test_image_encoders_fit_the_image_side(side: int, stem: int, stages: int, patch: int) -> None:
    cnn = _values(autoconf.rules_for("shapes", "cnn", "infonce", ()), Facts(image_size=side), {})
    assert (cnn["model.stem_stride"], cnn["model.stages"]) == (stem, stages)
    assert side % (stem * 2 ** (stages - 1)) == 0
    vit = _values(autoconf.rules_for("shapes", "vit", "infonce", ()), Facts(image_size=side), {})
    assert vit["model.patch_size"] == patch


@pytest.mark.parametrize("side", [8, 16, 32, 128])
def test_frame_transformer_fits_the_frame_side(side: int) -> None:
    v = _values(autoconf.rules_for("moving_shapes", "frame_transformer", "temporal_order", ()),
                Facts(image_size=side, frames=2), {})
    reach = int(v["model.stem_stride"]) * 2 ** (int(v["model.stages"]) - 1)           # type: ignore[call-overload]
    assert side // reach >= int(v["model.grid"]) >= 1                                  # type: ignore[call-overload]
    assert int(v["model.target_size"]) <= side                                         # type: ignore[call-overload]
    assert v["objective.segments"] == 2                                                # 2 frames: 2 segments


@pytest.mark.parametrize(("doc", "seq"), [(5, 16), (61, 64), (300, 304), (100000, 512)])
def test_text_seq_len_from_the_examples_lengths(doc: int, seq: int) -> None:
    v = _values(autoconf.rules_for("text_files", "transformer", "masked", ()), Facts(doc_len=doc), {})
    assert v["data.seq_len"] == seq


@pytest.mark.parametrize(("per", "seq", "says"), [(4.0, 104, "100 BPE tokens at 4.00 bytes per token"),
                                                  (1.0, 400, "400-byte examples (95th percentile)")])
def test_text_seq_len_counts_tokens_under_a_bpe(per: float, seq: int, says: str) -> None:
    keyed = autoconf.rules_for("text_files", "transformer", "masked", ())
    got = autoconf.derive(keyed, {"data.seq_len"}, {"data.tokenizer": "bpe"}, Facts(doc_len=400, bytes_per_token=per))
    assert got["data.seq_len"][0] == seq and says in got["data.seq_len"][1]
    unmeasured = autoconf.derive(keyed, {"data.seq_len"}, {"data.tokenizer": "bpe"}, Facts(doc_len=400))
    assert unmeasured == {}                                          # never a byte length taken as tokens


def test_a_bpe_text_settles_seq_len_in_tokens(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    words = ["the ", "model ", "learns ", "which ", "words ", "follow ", "each ", "other "]
    lines = ["".join(words[(i * 3 + j) % len(words)] for j in range(40)) for i in range(200)]   # 226-241 bytes
    (tmp_path / "t.txt").write_text("\n".join(lines))
    facts = autoscan.scan("text_files", {"path": str(tmp_path / "t.txt"), "tokenizer": "bpe", "vocab_size": 300})
    assert facts.doc_len == 235 and facts.bytes_per_token is not None and facts.bytes_per_token > 3
    as_bytes = autoscan.settle(config.from_overrides(["data.modality=text", f"data.path={tmp_path / 't.txt'}"]))
    exp = config.from_overrides(["data.modality=text", f"data.path={tmp_path / 't.txt'}", "data.tokenizer=bpe",
                                 "data.vocab_size=300"])
    settled = autoscan.settle(exp)
    assert as_bytes.data.options["seq_len"] == 240                    # 235 bytes, rounded up to 8
    assert settled.data.options["seq_len"] <= 235 // 3 + 8
    assert "bytes per token" in settled.auto["data.seq_len"]


@pytest.mark.parametrize(("nodes", "layers"), [(3, 1), (16, 3), (500, 6)])
def test_gnn_depth_from_graph_size(nodes: int, layers: int) -> None:
    v = _values(autoconf.rules_for("graph_files", "gnn", "infonce", ()), Facts(nodes=nodes, max_graph_nodes=nodes),
                {})
    assert v["model.layers"] == layers
    assert v["data.max_nodes"] == max(4, nodes)


def test_a_value_outside_the_catalog_range_is_never_taken() -> None:
    keyed = autoconf.rules_for("audio_files", "wave_cnn", "infonce", ())
    values: dict[str, object] = {"data.sample_rate": 16000}
    got = autoconf.derive(keyed, {"data.clip_seconds"}, values, Facts(file_length=10**9, file_rate=16000))
    assert got["data.clip_seconds"][0] == autoconf.CLIP_SECONDS_MAX
    assert "cut from" in got["data.clip_seconds"][1]


# ---- the user's value wins; resolved configs derive nothing new -------------------------------------------


def _signals(path: Path, length: int, n: int = 64, rate: int | None = None) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    t = np.arange(length)
    x = np.sin(2 * np.pi * (0.05 + 0.05 * y)[:, None] * t + rng.uniform(0, 6, (n, 1)))
    extra = {} if rate is None else {"sample_rate": np.array(rate)}
    np.savez(path, x=(0.5 * x).astype(np.float32), y=y, **extra)
    return path


def test_short_signals_keep_their_own_length(tmp_path: Path) -> None:
    exp = config.from_overrides(["data.modality=audio", f"data.path={_signals(tmp_path / 's.npz', 40)}"])
    assert exp.auto["data.clip_seconds"] == ""                      # left to the data until it is read
    settled = autoscan.settle(exp)
    assert round(settled.data.options["clip_seconds"] * settled.data.options["sample_rate"]) == 40
    assert (settled.model.options["stride"], settled.model.options["layers"]) == (2, 3)
    assert settled.auto["model.layers"] == "auto: 3, 5 positions of 8 samples from 40-sample clips"
    again = config.build(settled.to_dict())
    assert again == settled and autoscan.settle(again) == again     # a resolved config derives nothing new


def test_the_files_own_sample_rate_is_kept(tmp_path: Path) -> None:
    exp = config.from_overrides(["data.modality=audio", f"data.path={_signals(tmp_path / 's.npz', 800, rate=8000)}"])
    settled = autoscan.settle(exp)
    assert settled.data.options["sample_rate"] == 8000 and settled.data.options["clip_seconds"] == 0.1


@pytest.mark.parametrize("how", ["set", "file"])
def test_a_value_the_user_sets_always_wins_even_the_default(tmp_path: Path, how: str) -> None:
    path = _signals(tmp_path / "s.npz", 160)
    sets = ["data.modality=audio", f"data.path={path}", "model.stride=4", "model.layers=2"]
    if how == "set":
        exp = config.from_overrides(sets)
    else:
        (tmp_path / "e.toml").write_text(f'[data]\nmodality = "audio"\npath = "{path}"\n[model]\nstride = 4\n'
                                         'layers = 2\n')
        exp = config.load(tmp_path / "e.toml")
    settled = autoscan.settle(exp)
    assert (settled.model.options["stride"], settled.model.options["layers"]) == (4, 2)
    assert "model.stride" not in settled.auto and "model.layers" not in settled.auto
    assert settled.auto["data.clip_seconds"].startswith("auto: 0.01 s = 160 samples")


def test_set_on_a_resolved_config_removes_the_key_and_new_data_is_derived_again(tmp_path: Path) -> None:
    resolved = autoscan.settle(config.from_overrides(["data.modality=audio",
                                                      f"data.path={_signals(tmp_path / 'a.npz', 160)}"]))
    (tmp_path / "r.toml").write_text(resolved.to_toml())
    kept = config.load(tmp_path / "r.toml", ["model.layers=3"])
    assert "model.layers" not in kept.auto and kept.auto["model.stride"].startswith("auto: 2")
    moved = config.load(tmp_path / "r.toml", [f"data.path={_signals(tmp_path / 'b.npz', 4096)}"])
    assert set(moved.auto.values()) == {""}
    assert autoscan.settle(moved).model.options["stride"] == 4


def test_an_auto_table_that_is_not_reasons_is_refused() -> None:
    with pytest.raises(config.ConfigError) as e:
        config.build({"auto": {"model.stride": 2}})
    assert e.value.key == "auto.model.stride"


# ---- what the files say -------------------------------------------------------------------------------


def test_scan_reads_npz_shapes_without_loading_them(tmp_path: Path) -> None:
    np.savez(tmp_path / "v.npz", x=np.zeros((3, 5, 1, 12, 10), np.uint8))
    assert autoscan.npz_arrays(tmp_path / "v.npz") == {"x": ((3, 5, 1, 12, 10), "|u1")}
    facts = autoscan.scan("video_files", {"path": str(tmp_path / "v.npz")})
    assert (facts.file_side, facts.frames) == (10, 5)


def test_scan_of_wav_folder_text_and_graphs(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    for i, n in enumerate((100, 200, 300)):
        with wave.open(str(tmp_path / "w" / f"{i}.wav"), "wb") as f:
            f.setnchannels(1), f.setsampwidth(2), f.setframerate(4000)
            f.writeframes(b"\0\0" * n)
    assert (autoscan.scan("audio_files", {"path": str(tmp_path / "w")}).file_length, 4000) == (300, 4000)
    (tmp_path / "t.txt").write_text("\n".join("a" * (10 + i) for i in range(100)))
    assert autoscan.scan("text_files", {"path": str(tmp_path / "t.txt")}).doc_len == 105
    mask = np.zeros((4, 9), bool)
    for i, n in enumerate((3, 4, 5, 9)):
        mask[i, :n] = True
    np.savez(tmp_path / "g.npz", adj=np.zeros((4, 9, 9), np.float32), mask=mask)
    facts = autoscan.scan("graph_files", {"path": str(tmp_path / "g.npz")})
    assert (facts.nodes, facts.max_graph_nodes) == (4, 9)
    (tmp_path / "e.txt").write_text("g1 a b\ng1 b c\ng2 a b\n")
    assert autoscan.scan("graph_files", {"path": str(tmp_path / "e.txt")}).max_graph_nodes == 3


def test_a_run_writes_its_derived_values_into_its_resolved_config(tmp_path: Path) -> None:
    exp = config.from_overrides(["data.modality=audio", f"data.path={_signals(tmp_path / 's.npz', 40)}"])
    run = prepare(exp, tmp_path / "runs")
    settled = autoscan.settle_run(config.load(run.path / CONFIG), run.path / CONFIG, write=True)
    text = (run.path / CONFIG).read_text()
    assert text.startswith(f"# Resolved configuration of run {run.id}")
    assert '"model.layers" = "auto: 3, 5 positions of 8 samples from 40-sample clips"' in text
    assert config.load(run.path / CONFIG) == settled


def test_show_lists_the_derived_settings_with_their_reasons(tmp_path: Path) -> None:
    from tests.conftest import sslterm

    exp = config.from_overrides(["data.modality=audio", f"data.path={_signals(tmp_path / 's.npz', 160)}",
                                 "model.stride=2"])
    run = prepare(exp, tmp_path / "runs")
    autoscan.settle_run(config.load(run.path / CONFIG), run.path / CONFIG, write=True)
    out = sslterm("show", run.id, runs=tmp_path / "runs").stdout
    assert "derived from the data's shape" in out
    assert "model.layers" in out and "auto: 3, 20 positions of 8 samples from 160-sample clips" in out
    assert "model.stride" not in out                                     # set by the user
