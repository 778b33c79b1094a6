"""ConfigError's fields, and one short line for values too big, too long or nested too deeply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sslterm import config
from sslterm.config import ConfigError


def error(raw: dict[str, Any], overrides: tuple[str, ...] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.build(config.apply_overrides(raw, overrides), "exp.toml")
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize(("raw", "keys", "given"), [
    ({"train": {"steps": "many"}}, ("train.steps",), "many"),
    ({"train": {"lr": -1.0}}, ("train.lr",), -1.0),
    ({"train": {"stepz": 3}}, ("train.stepz",), "stepz"),
    ({"objective": {"name": "infonc"}}, ("objective.name",), "infonc"),
    ({"objective": {"name": 3}}, ("objective.name",), 3),
    ({"data": {"modality": "text"}, "objective": {"name": "rotation"}}, ("objective.name", "data.modality"),
     "rotation"),
    ({"augment": {"grayscale": {"enabled": 3}}}, ("augment.grayscale.enabled",), 3),
    ({"data": {"modality": "text"}, "augment": {"grayscale": {}}}, ("augment.grayscale", "data.modality"),
     "grayscale"),
    ({"train": 3}, ("train",), 3),
    ({"zzz": 1}, ("zzz",), "zzz"),
    ({"data": {"modality": "text"}, "objective": {"name": "masked"}, "model": {"encoder": "transformer"},
      "augment": {"span_masking": {"fraction": 0.5}}}, None, None),
])
def test_every_error_fills_its_fields(raw: dict[str, Any], keys: tuple[str, ...] | None, given: Any) -> None:
    if keys is None:
        config.build(raw)
        return
    e = error(raw)
    assert e.keys == keys and e.key == keys[0]
    assert e.given == given
    assert e.allowed, "every error says what is allowed"
    assert e.source == "exp.toml" and e.reason and e.reason in str(e)


def test_rule_between_keys_names_both() -> None:
    e = error({"augment": {"random_resized_crop": {"scale_min": 0.9, "scale_max": 0.5}}})
    assert e.keys == ("augment.random_resized_crop.scale_min", "augment.random_resized_crop.scale_max")
    assert all(k in str(e) for k in e.keys) and e.given == 0.9
    e = error({"data": {"num_samples": 64}, "train": {"batch_size": 128}})
    assert e.keys == ("train.batch_size", "data.num_samples") and e.given == 128


@pytest.mark.parametrize("key", ["seed", "data.seed", "train.log_every", "train.warmup_steps", "eval.every"])
def test_integers_are_bounded_by_int64(key: str) -> None:
    e = error({}, (f"{key}={2**63}",))
    assert e.key == key and "2^63 - 1" in str(e)
    config.build(config.apply_overrides({}, ("seed=9223372036854775807",)))


def test_huge_float_is_not_finite() -> None:
    assert "finite" in str(error({}, (f"train.lr={10**400}",)))


def test_long_values_are_cut_in_the_message() -> None:
    long = "x" * 100_000
    for raw in ({"train": {"device": long}}, {"objective": {"name": long}}, {long: 1},
                {"train": {long: 1}}, {"data": {"path": long}}):
        e = error(raw)
        assert len(str(e)) < 400, str(e)[:200]
        assert "…" in str(e)
    e = error({}, (f"train.steps={long}",))
    assert len(str(e)) < 400 and e.given == long


def test_nesting_deeper_than_the_schema_is_one_line(tmp_path: Path) -> None:
    deep = "[" * 500 + "]" * 500
    for overrides in ((f"train.lr={deep}",), ("a" + ".a" * 500 + "=1",), ("train.lr=[[[[[1]]]]]",)):
        with pytest.raises(ConfigError, match="nested too deeply"):
            config.from_overrides(overrides)
    for text in (f"[train]\nlr = {deep}\n", "a" + ".a" * 500 + " = 1\n", "x = " + "{a = " * 300 + "1" + "}" * 300):
        path = tmp_path / "deep.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="nested too deeply") as info:
            config.load(path)
        assert "\n" not in str(info.value) and len(str(info.value)) < 300
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(2000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError, match="nested too deeply"):
        config.build({"train": nested})


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    for text in ("", "\n\n# only a comment\n"):
        path = tmp_path / "empty.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="is empty"):
            config.load(path)


def test_misplaced_key_reports_the_real_problem() -> None:
    """objective.name misspelled: the misspelling is named, not the parameters of the intended objective."""
    e = error({"objective": {"sim_coeff": 10.0, "std_coeff": 10.0, "nmae": "vicreg"}})
    assert e.key == "objective.nmae" and "did you mean 'name'" in str(e)
    e = error({"objective": {"sim_coeff": 10.0}})
    assert e.key == "objective.sim_coeff" and "'vicreg'" in str(e) and "objective.name" in str(e)


@pytest.mark.parametrize(("sets", "keys"), [
    (("data.modality=image", "model.encoder=vit", "model.patch_size=5"), ("model.patch_size", "data.image_size")),
    (("data.modality=image", "model.encoder=vit", "model.heads=3"), ("model.heads", "model.dim")),
    (("data.modality=text", "model.heads=5"), ("model.heads", "model.dim")),
    (("data.modality=audio", "model.encoder=mel_transformer", "model.dim=63"), ("model.heads", "model.dim")),
    (("data.modality=video", "model.dim=63"), ("model.heads", "model.dim")),
    (("data.image_size=17", "model.stem_stride=2", "model.stages=3"),   # set: auto would fit them to 17 px
     ("data.image_size", "model.stem_stride", "model.stages")),
    (("model.stem_stride=3",), ("data.image_size", "model.stem_stride", "model.stages")),
    (("data.modality=video", "model.stages=4", "model.grid=4"), ("model.grid", "data.image_size", "model.stem_stride",
                                                   "model.stages")),
    (("data.modality=video", "model.stages=5", "model.stem_stride=4", "model.grid=1"),
     ("data.image_size", "model.stem_stride", "model.stages")),
    (("data.modality=video", "data.image_size=16", "model.target_size=17"), ("model.target_size", "data.image_size")),
    (("data.modality=audio", "model.encoder=mel_transformer", "model.hop=127", "model.n_fft=256"),
     ("model.n_fft", "model.hop")),
    (("data.modality=audio", "model.encoder=mel_transformer", "model.n_fft=16", "model.hop=8", "model.n_mels=32"),
     ("model.n_mels", "model.n_fft")),
    (("data.modality=audio", "data.length=256", "model.encoder=mel_transformer", "model.n_fft=512", "model.hop=512"),
     ("model.hop", "data.length")),
    (("data.modality=audio", "data.length=256", "model.layers=5", "model.stride=4"),
     ("model.layers", "model.stride", "data.length")),
    (("data.modality=text", "data.seq_len=16", "objective.name=next_token", "objective.shift=16"),
     ("objective.shift", "data.seq_len")),
    (("data.modality=image", "model.encoder=vit", "model.patch_size=16", "data.image_size=32",
      "objective.name=next_token", "objective.shift=4"), ("objective.shift", "model.patch_size", "data.image_size")),
    (("data.modality=audio", "data.length=256", "model.encoder=mel_transformer", "model.n_fft=128", "model.hop=128",
      "objective.name=next_token", "objective.shift=2"), ("objective.shift", "model.hop", "data.length")),
    (("data.modality=video", "data.frames=2", "objective.name=temporal_order", "objective.segments=3"),
     ("objective.segments", "data.frames")),
    (("data.modality=text", "objective.name=temporal_order", "objective.cut=words", "objective.per_segment=true"),
     ("objective.per_segment", "objective.cut")),
    (("data.modality=graph", "data.min_nodes=30"), ("data.min_nodes", "data.max_nodes")),
    (("data.modality=graph", "data.max_nodes=512", "data.num_samples=100000"),
     ("data.num_samples", "data.num_eval", "data.max_nodes", "data.node_features")),
    (("data.num_samples=2000000", "data.image_size=128"), ("data.num_samples", "data.num_eval", "data.image_size")),
])
def test_rules_between_keys_name_every_key(sets: tuple[str, ...], keys: tuple[str, ...]) -> None:
    e = error({}, sets)
    assert e.keys == keys, str(e)
    assert all(k in str(e) for k in keys), str(e)
    assert e.given is not None and e.allowed


def test_audio_files_length_comes_from_clip_seconds(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    e = error({}, ("data.modality=audio", f"data.path={str(tmp_path)!r}".replace("'", '"'), "data.sample_rate=1000",
                   "data.clip_seconds=0.1", "model.layers=5", "model.stride=4"))
    assert e.keys == ("model.layers", "model.stride", "data.clip_seconds", "data.sample_rate")


def test_out_of_memory_names_the_size_to_lower() -> None:
    from sslterm import rules

    options = config.from_overrides(()).data.options
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 35184372088832 bytes. Error code 12 (Cannot allocate memory)")
    text = rules.describe_out_of_memory(cpu, "shapes", options, 128)
    assert text is not None and text.startswith("out of memory building the data (DefaultCPUAllocator")
    assert "data.num_samples" in text and "data.image_size" in text and "\n" not in text
    small = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4096 bytes.")
    assert "--set train.batch_size=64" in (rules.describe_out_of_memory(small, "shapes", options, 128) or "")
    cuda = RuntimeError("CUDA out of memory. Tried to allocate 2.00 MiB (GPU 0; 79.1 GiB total)")
    assert "train.batch_size = 128" in (rules.describe_out_of_memory(cuda, "shapes", options, 128) or "")
    assert "train.batch_size" in (rules.describe_out_of_memory(MemoryError(), "shapes", options, 128) or "")
    assert rules.describe_out_of_memory(ValueError("bad"), "shapes", options, 128) is None
