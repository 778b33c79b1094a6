"""``sslterm data prepare|ls|rm`` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, sslterm


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SSLTERM_DATA_CACHE", str(root))
    return root


def test_prepare_list_and_remove(tmp_path: Path, cache: Path) -> None:
    from PIL import Image

    for i in range(12):
        f = tmp_path / "img" / ("a" if i % 2 else "b") / f"{i}.png"
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (30, 20), (i * 20, 0, 0)).save(f)
    (tmp_path / "c.txt").write_text("some text\n" * 50)
    runs = tmp_path / "runs"
    out = sslterm("data", "prepare", str(tmp_path / "img"), "--image-size", "8", runs=runs)
    assert out.returncode == 0, out.stderr
    assert "11 training and 1 held-out images of 8x8, 2 classes, 0 unreadable skipped" in out.stdout
    assert "12/12 images" in out.stderr and "/s, ETA" in out.stderr
    out = sslterm("data", "prepare", str(tmp_path / "c.txt"), runs=runs)
    assert out.returncode == 0 and "held out: each document's tail" in out.stdout, out.stderr
    listed = json.loads(sslterm("data", "ls", "--json", runs=runs).stdout)
    assert sorted(e["kind"] for e in listed) == ["images", "text"] and all(e["finished"] for e in listed)
    table = sslterm("data", "ls", runs=runs).stdout
    assert "ready" in table and str(tmp_path / "img") in table
    image = next(e["name"] for e in listed if e["kind"] == "images")
    out = sslterm("data", "rm", image[:12], runs=runs)
    assert out.returncode == 0 and f"removed {image}" in out.stdout
    assert [e["kind"] for e in json.loads(sslterm("data", "ls", "--json", runs=runs).stdout)] == ["text"]
    assert sslterm("data", "rm", "--all", runs=runs).returncode == 0
    assert "no prepared datasets in" in sslterm("data", "ls", runs=runs).stdout


def test_prepare_audio_and_frame_folders(tmp_path: Path) -> None:
    import wave

    from PIL import Image

    (tmp_path / "speech" / "19").mkdir(parents=True)
    for i in range(4):
        with wave.open(str(tmp_path / "speech" / "19" / f"{i}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(8000)
            f.writeframes(b"\x10\x00" * 4000)
        (tmp_path / "clips" / f"c{i}").mkdir(parents=True)
        for k in range(3):
            Image.new("RGB", (12, 10), (k * 50, 0, 0)).save(tmp_path / "clips" / f"c{i}" / f"{k}.png")
    runs = tmp_path / "runs"
    out = sslterm("data", "prepare", str(tmp_path / "speech"), "--sample-rate", "4000", "--clip-seconds", "0.5",
                  runs=runs)
    assert out.returncode == 0, out.stderr
    assert "3 training and 1 held-out clips of 2,000 samples at 4,000 Hz, 1 classes" in out.stdout
    assert "4/4 audio files" in out.stderr
    out = sslterm("data", "prepare", str(tmp_path / "clips"), "--kind", "video", "--image-size", "8", runs=runs)
    assert out.returncode == 0, out.stderr
    assert "3 training and 1 held-out clips of 3 frames of 8x8, 0 classes" in out.stdout
    listed = json.loads(sslterm("data", "ls", "--json", runs=runs).stdout)
    assert sorted(e["kind"] for e in listed) == ["audio", "clips"] and all(e["finished"] for e in listed)


@pytest.mark.parametrize(("args", "message"), [
    (("prepare", "{tmp}/missing"), "does not exist"),
    (("prepare", "{tmp}/x.csv"), "expected a folder of JPEG/PNG/WebP images"),
    (("prepare", "{tmp}", "--kind", "sound"), "--kind 'sound' is not one of auto, image, text, audio, video"),
    (("prepare", "{tmp}", "--kind", "audio", "--sample-rate", "10"), "--sample-rate must be 1000..192000"),
    (("prepare", "{tmp}", "--image-size", "4"), "--image-size must be 8..512"),
    (("prepare", "{tmp}/empty"), "holds no JPEG/PNG/WebP images, no .wav/.flac files and no .txt"),
    (("rm", "nothing"), "'nothing' matches no prepared dataset"),
    (("rm",), "give entry names"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "x.csv").write_text("a,b\n")
    (tmp_path / "empty").mkdir()
    out = sslterm("data", *(a.format(tmp=tmp_path) for a in args), runs=tmp_path / "runs")
    assert out.returncode == 2 and message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_listing_imports_neither_torch_nor_numpy() -> None:
    code = ("import sys; from sslterm.data_cli import ls_cmd; ls_cmd(False); "
            "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().endswith("[]")


def test_two_preparations_take_turns_and_rm_waits_for_neither(tmp_path: Path) -> None:
    from sslterm.data.tokens import prepare_text
    from sslterm.prepared import entry_dir, preparing

    (tmp_path / "c.txt").write_text("some text\n" * 50)
    entry = entry_dir("text", tmp_path / "c.txt", {"tokenizer": "bytes", "text_field": "text", "seed": 0})
    env_runs = tmp_path / "runs"
    with preparing(entry):                                        # another process is preparing it
        second = subprocess.Popen([sys.executable, "-m", "sslterm", "data", "prepare", str(tmp_path / "c.txt")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert second.stderr is not None
        assert "waiting for another process preparing" in second.stderr.readline(), "it waits for the lock"
        entry.mkdir(parents=True, exist_ok=True)
        (entry / "manifest.json").write_text("{}")                 # an unfinished entry, as it would be
        out = sslterm("data", "rm", "--all", runs=env_runs)
        assert out.returncode == 2 and "is being prepared by another process" in out.stderr
        assert second.poll() is None, "still waiting while the lock is held"
    assert second.wait(timeout=120) == 0, second.stderr.read()
    assert prepare_text(tmp_path / "c.txt")[1]["train_bytes"] + prepare_text(tmp_path / "c.txt")[1]["eval_bytes"] == 500
