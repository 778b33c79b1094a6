"""Experiment files: loading, overrides, and one clear line for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sslterm import catalog, config, tomlio
from sslterm.config import ConfigError
from tests.conftest import EXPERIMENTS, sslterm


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, text), overrides)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_experiments_load(path: Path) -> None:
    exp = config.load(path)
    assert exp.train.steps > 0
    assert path.read_text().startswith("#"), "each experiment opens with a comment saying what it shows"


def test_defaults_fill_catalog_parameters(tmp_path: Path) -> None:
    exp = config.load(write(tmp_path, '[objective]\nname = "infonce"\n'))
    assert exp.objective.options == {"temperature": 0.2, "negatives": "both_views"}
    assert exp.data.options["image_size"] == 32


def test_unknown_key_names_file_key_and_suggests(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[train]\nlearning_rat = 0.1\n")
    assert "exp.toml" in msg and "train.learning_rat" in msg and "allowed:" in msg
    msg = error_of(tmp_path, "[train]\nstepz = 3\n")
    assert "did you mean 'steps'?" in msg


def test_misspelled_names_get_a_suggestion(tmp_path: Path) -> None:
    assert "did you mean 'infonce'" in error_of(tmp_path, '[objective]\nname = "infonc"\n')
    assert "did you mean 'horizontal_flip'" in error_of(tmp_path, "[augment.horizontal_flp]\np = 0.5\n")
    assert "did you mean 'temperature'" in error_of(tmp_path, "[objective]\ntemprature = 0.1\n")


def test_wrong_type_and_range(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[train]\nsteps = "many"\n')
    assert "train.steps" in msg and "'many'" in msg and "integer" in msg
    msg = error_of(tmp_path, "[train]\nlr = -1.0\n")
    assert "train.lr" in msg and "-1.0" in msg
    msg = error_of(tmp_path, "[objective]\ntemperature = 0\n")
    assert "objective.temperature" in msg and "0 <" in msg
    assert "true or false" in error_of(tmp_path, "[augment.grayscale]\nenabled = 3\n")
    assert "expected an integer" in error_of(tmp_path, "[train]\nsteps = true\n")
    assert "finite" in error_of(tmp_path, "[train]\nlr = nan\n")


def test_relations_between_keys(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[augment.random_resized_crop]\nscale_min = 0.9\nscale_max = 0.5\n")
    assert "scale_min" in msg and "scale_max" in msg
    msg = error_of(tmp_path, "[data]\nnum_samples = 64\n[train]\nbatch_size = 128\n")
    assert "train.batch_size" in msg


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    assert "invalid TOML" in error_of(tmp_path, "[train\nsteps = 3\n")
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        config.load(tmp_path)


def test_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[train]\nsteps = 10\n")
    exp = config.load(path, ("train.steps=3", "train.device=cpu", "augment.grayscale.p=0.5", "name=x y"))
    assert exp.train.steps == 3 and exp.train.device == "cpu" and exp.name == "x y"
    assert exp.augment["grayscale"] == {"p": 0.5}
    exp = config.load(path, ("augment.grayscale.enabled=false",))
    assert "grayscale" not in exp.augment
    with pytest.raises(ConfigError, match=r"expected table\.key=value"):
        config.load(path, ("train.steps",))
    with pytest.raises(ConfigError, match=r"train\.steps"):
        config.load(path, ("train.steps=0",))


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    exp = config.load(EXPERIMENTS / "image-simclr.toml", ("train.lr=0.0123",))
    again = config.build(tomlio.loads(exp.to_toml(header="resolved")), "resolved")
    assert again == exp


def test_cli_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[train]\nbatchsize = 3\n")
    proc = sslterm("run", str(path), runs=tmp_path / "runs")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.batchsize" in lines[0] and "batch_size" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists(), "nothing is created before the config is valid"


def test_cli_bad_override_is_one_line(tmp_path: Path) -> None:
    proc = sslterm("run", str(EXPERIMENTS / "image-simclr.toml"), "--set", "train.steps=abc",
                   runs=tmp_path / "runs")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "train.steps" in proc.stderr


_values = st.one_of(
    st.integers(-10**9, 10**9), st.floats(allow_nan=True), st.text(max_size=8), st.booleans(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_keys = st.sampled_from(["name", "seed", "data", "model", "objective", "train", "eval", "augment", "zzz"])
_sub = st.sampled_from(["steps", "lr", "batch_size", "modality", "dataset", "name", "encoder", "width",
                        "temperature", "random_resized_crop", "p", "device", "num_samples", "probe_batch", "x"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, st.one_of(_values, st.dictionaries(_sub, st.one_of(_values, st.dictionaries(
    _sub, _values, max_size=2)), max_size=3)), max_size=4))
def test_random_documents_never_raise_anything_but_config_error(raw: dict) -> None:
    try:
        config.build(raw, "fuzz.toml")
    except ConfigError as e:
        assert str(e).startswith("fuzz.toml: ") and "\n" not in str(e)


def test_every_modality_has_default_augmentations_that_fit_it() -> None:
    """`sslterm run -m M -o O` without an [augment] table must still make two different views."""
    for modality in catalog.names("modality"):
        defaults = catalog.get("modality", modality).extra.get("default_augment", ())
        assert defaults, f"{modality} declares no default augmentations"
        for name in defaults:
            assert modality in catalog.get("augmentation", name).modalities


@pytest.mark.parametrize("sets", [("augment.grayscale.enabled=false",), ("augment.color_jitter.p=0.5",),
                                  ("augment.gaussian_blur.p=0.3",)])
def test_set_augment_changes_one_augmentation_on_top_of_the_defaults(tmp_path: Path, sets: tuple[str, ...]) -> None:
    """With no [augment] table (no file, or a file without one) the defaults stay; --set changes one of them."""
    defaults = list(config.from_overrides(("data.modality=image",)).augment)
    name = sets[0].split(".")[1]
    expected = [a for a in defaults if not (a == name and sets[0].endswith("=false"))]
    if name not in defaults:
        expected.append(name)
    without = config.from_overrides(("data.modality=image", "objective.name=infonce", *sets))
    with_file = config.load(write(tmp_path, '[objective]\nname = "infonce"\n'), sets)
    for exp in (without, with_file):
        assert list(exp.augment) == expected
    if sets[0].startswith("augment.color_jitter.p"):
        assert without.augment["color_jitter"]["p"] == 0.5


def test_set_augment_on_a_file_with_an_augment_table_keeps_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[augment.horizontal_flip]\n[augment.grayscale]\n")
    assert list(config.load(path, ("augment.grayscale.enabled=false",)).augment) == ["horizontal_flip"]


def test_runs_without_a_file_are_named_after_their_task() -> None:
    assert config.from_overrides(("data.modality=audio", "objective.name=masked")).name == "audio-masked"
    assert config.from_overrides(()).name == "image-infonce"
    assert config.from_overrides(("name=mine", "data.modality=text")).name == "mine"


def test_cli_empty_file_is_one_line(tmp_path: Path) -> None:
    proc = sslterm("run", str(write(tmp_path, "")), runs=tmp_path / "runs")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "is empty" in proc.stderr


@pytest.mark.parametrize("name", ["a\x7fb", "tab\there", 'quote " and \\ backslash', "line\nbreak", "ü ∑ 🙂", "\x00"])
def test_resolved_config_with_any_name_round_trips(name: str) -> None:
    exp = config.build({"name": name})
    assert config.build(tomlio.loads(exp.to_toml(header="resolved\nconfig"))) == exp


def test_written_toml_loads_back() -> None:
    doc = {"a": 1, "f": 1e300, "n": None, "t": {"x": "y", "e": {}, "u": {"b": [1, 2]}}, "k y": True}
    expected = {"a": 1, "f": 1e300, "t": {"x": "y", "e": {}, "u": {"b": [1, 2]}}, "k y": True}
    assert tomlio.loads(tomlio.dumps(doc, header="h")) == expected
    assert tomlio.value_text({"a": [1, "x\x7f"]}) == '{ a = [1, "x\\u007f"] }'


def test_a_key_that_extends_an_allowed_one_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'lr'\?"):
        from sslterm.config import build

        build({"train": {"lr_max": 0.1}})


def test_catalog_headings_are_plural_words() -> None:
    from sslterm import catalog

    assert [catalog.plural(k) for k in catalog.KINDS] == [
        "modalities", "datasets", "objectives", "augmentations", "encoders"]


def test_a_bpe_on_an_npz_is_refused_in_one_line_and_accepted_on_any_text(tmp_path: Path) -> None:
    """An .npz's ids are read as they are (a BPE asked for there would be ignored); text, labelled or not, takes one."""
    import numpy as np

    for name in ("code", "prose"):
        (tmp_path / "labelled" / name).mkdir(parents=True)
        (tmp_path / "labelled" / name / "a.txt").write_text(f"a line of {name}\n" * 20)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("unlabelled text\n" * 20)
    np.savez(tmp_path / "ids.npz", x=np.ones((4, 8), dtype=np.int64))
    with pytest.raises(ConfigError) as e:
        config.from_overrides(["data.modality=text", f"data.path={tmp_path / 'ids.npz'}", "data.tokenizer=bpe"])
    said = str(e.value)
    assert "data.tokenizer" in said and ".npz" in said and "'bytes'" in said and "\n" not in said
    for path in ("labelled", "plain"):
        bpe = config.from_overrides(["data.modality=text", f"data.path={tmp_path / path}", "data.tokenizer=bpe"])
        assert bpe.data.options["tokenizer"] == "bpe"


def test_a_folder_of_class_subfolders_is_read_unlabelled_with_labels_none(tmp_path: Path) -> None:
    from sslterm.data import build_dataset

    for name in ("AA", "AB"):
        (tmp_path / "corpus" / name).mkdir(parents=True)
        for i in range(6):
            (tmp_path / "corpus" / name / f"doc{i}.txt").write_text(f"document {i} of part {name}\n" * 30)
    for labels, classes in (("auto", ("AA", "AB")), ("none", ())):
        exp = config.from_overrides(["data.modality=text", f"data.path={tmp_path / 'corpus'}", f"data.labels={labels}",
                                     "data.seq_len=16"])
        data = build_dataset(exp.data.dataset, exp.data.options, tmp_path / f"cache-{labels}")
        assert data.classes == classes and (data.y_train is None) == (labels == "none")
