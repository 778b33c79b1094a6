"""Augmentation previews: the server over its pipes, the text change tracing, the drawing, and the widget live."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from sslterm import catalog
from sslterm.augment import Pipeline
from sslterm.data.text import MASK, PAD
from sslterm.preview import payloads
from sslterm.tui import preview_client
from sslterm.tui.widgets.preview import LOADING, AugmentationPreview
from sslterm.tui.widgets.preview_draw import answer_text
from tests.conftest import wait_for_async

TINY_DATA: dict[str, dict[str, Any]] = {
    "image": {"modality": "image", "image_size": 16},
    "text": {"modality": "text", "seq_len": 32},
    "audio": {"modality": "audio", "length": 1024},
    "video": {"modality": "video", "frames": 8, "image_size": 16},
    "graph": {"modality": "graph", "max_nodes": 12},
}
EVERY_AUGMENTATION: dict[str, dict[str, dict[str, Any]]] = {
    m: {name: {} for name in catalog.names("augmentation", m)} for m in TINY_DATA}
# strength 0 of every augmentation where the catalog allows it: each must then be the identity
ZERO: dict[str, dict[str, dict[str, Any]]] = {
    "image": {"horizontal_flip": {"p": 0.0}, "color_jitter": {"p": 0.0}, "grayscale": {"p": 0.0},
              "gaussian_blur": {"p": 0.0}, "solarize": {"p": 0.0}},
    "text": {"token_dropout": {"p": 0.0}, "span_masking": {"fraction": 0.0}, "token_deletion": {"p": 0.0},
             "token_substitution": {"p": 0.0}, "span_crop": {"min_fraction": 1.0}},
    "audio": {"additive_noise": {"p": 0.0}, "time_masking": {"masks": 0}, "frequency_masking": {"p": 0.0},
              "speed_perturbation": {"p": 0.0}, "random_crop": {"p": 0.0}},
    "video": {"temporal_crop": {"min_fraction": 1.0}, "frame_drop": {"p": 0.0}, "horizontal_flip": {"p": 0.0}},
    "graph": {"edge_dropping": {"p": 0.0}, "node_feature_masking": {"p": 0.0}},
}
KIND = {"image": "image", "text": "text", "audio": "spectrogram", "video": "frames", "graph": "graph"}

Ask = Callable[[dict[str, Any] | str], dict[str, Any]]


@pytest.fixture(scope="module")
def ask() -> Iterator[Ask]:
    """One preview server for the whole module: send a request (or a raw line), read its answer."""
    proc = subprocess.Popen([sys.executable, "-m", "sslterm.preview"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def send(request: dict[str, Any] | str) -> dict[str, Any]:
        stdin.write((request if isinstance(request, str) else json.dumps(request)) + "\n")
        stdin.flush()
        answer: dict[str, Any] = json.loads(stdout.readline())
        return answer

    yield send
    stdin.close()
    assert proc.wait(timeout=30) == 0  # EOF ends it cleanly


def request(rid: int, modality: str, augment: dict[str, Any] | None = None, samples: int = 3) -> dict[str, Any]:
    experiment: dict[str, Any] = {"data": TINY_DATA[modality]}
    if augment is not None:
        experiment["augment"] = augment
    return {"id": rid, "experiment": experiment, "samples": samples, "seed": 0}


def check_shape(p: dict[str, Any], modality: str) -> None:
    """A payload of ``modality`` has the documented shape and ranges."""
    assert p["kind"] == KIND[modality]
    if modality in ("image", "video"):
        images = [p["rgb"]] if modality == "image" else p["frames"]
        assert modality == "image" or len(images) == len(p["index"]) <= payloads.MAX_FRAMES
        for img in images:
            assert 0 < len(img) <= 32 and all(len(row) == len(img[0]) for row in img)
            assert all(len(px) == 3 and all(0 <= c <= 255 and isinstance(c, int) for c in px) for row in img
                       for px in row)
    elif modality == "audio":
        assert len(p["values"]) == payloads.BANDS and all(0 <= v <= 1 for row in p["values"] for v in row)
    elif modality == "text":
        assert len(p["tokens"]) == len(p["changed"]) > 0 and p["dropped"] >= 0
    else:
        assert 0 < p["nodes"] <= 12 and p["edges"] >= 0 and p["features"] > 0
        assert min(p["dropped_nodes"], p["dropped_edges"], p["masked_features"]) >= 0
        drawn = p["kept_nodes"]  # the original's nodes, each kept or not by this view; its edges among them
        assert sum(drawn) == p["nodes"] and len(drawn) - sum(drawn) == p["dropped_nodes"]
        assert len(p["edge_list"]) == len(p["kept_edges"]) == p["edges"] + p["dropped_edges"] - (
            p["edges"] - sum(p["kept_edges"]))
        assert all(0 <= a < b < len(drawn) for a, b in p["edge_list"])
        assert all(drawn[a] and drawn[b] for (a, b), kept in zip(p["edge_list"], p["kept_edges"], strict=True)
                   if kept)


@pytest.mark.parametrize("modality", list(TINY_DATA))
def test_server_answers_every_modality_with_its_payloads(ask: Ask, modality: str) -> None:
    answer = ask(request(11, modality, EVERY_AUGMENTATION[modality]))
    assert answer["id"] == 11 and answer["modality"] == modality, answer
    assert len(answer["samples"]) == 3
    for sample in answer["samples"]:
        assert isinstance(sample["label"], str)  # the generated datasets are labelled
        assert len(sample["views"]) == 2
        for p in (sample["original"], *sample["views"]):
            check_shape(p, modality)
    assert any(v != s["original"] for s in answer["samples"] for v in s["views"])  # the augmentations did something
    again = ask(request(12, modality, EVERY_AUGMENTATION[modality]))
    assert again["samples"] == answer["samples"]  # a fixed seed: the same views every time


@pytest.mark.parametrize("modality", list(TINY_DATA))
def test_no_augmentation_and_zero_strength_give_the_original(ask: Ask, modality: str) -> None:
    for rid, augment in ((21, {}), (22, ZERO[modality])):
        answer = ask(request(rid, modality, augment))
        assert answer["id"] == rid and "error" not in answer, answer
        for sample in answer["samples"]:
            assert sample["views"] == [sample["original"]] * 2
        assert ("no augmentations enabled: both views equal the original" in answer["notes"]) == (not augment)


def test_bad_experiments_and_requests_are_answered_with_one_line_and_the_server_goes_on(ask: Ask) -> None:
    bad = ask({"id": 5, "experiment": {"data": {"modality": "image"}, "augment": {"color_jitter": {"p": 2}}}})
    assert bad == {"id": 5, "error": "experiment: augment.color_jitter.p: got 2.0, expected a number with "
                                     "0 ≤ value ≤ 1"}
    wrong = ask({"id": 6, "experiment": {"data": {"modality": "text"}, "augment": {"grayscale": {}}}})
    assert wrong["id"] == 6 and "does not apply to text" in wrong["error"]
    assert ask({"id": 7, "experiment": "image"}) == {
        "id": 7, "error": "request experiment: expected an object with the tables of an experiment file"}
    assert ask({"id": 8, "experiment": {}, "samples": 0})["error"].startswith("request samples: got 0")
    assert ask({"experiment": {}})["error"].startswith("request id: got None")
    assert ask(request(9, "graph"))["samples"]  # still answering


def test_lines_that_are_not_json_objects_are_answered_without_an_id(ask: Ask) -> None:
    assert ask("{oops") == {
        "id": None, "error": "request is not JSON (Expecting property name enclosed in double quotes at column 2)"}
    assert ask("[1]") == {"id": None, "error": "request must be a JSON object"}
    assert ask(request(10, "text"))["id"] == 10


def text_batch() -> dict[str, torch.Tensor]:
    """Four rows of letters (ids of the bytes a..z) of different lengths, PAD at the end."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(ord("a") + 2, ord("z") + 3, (4, 24), generator=gen)
    lengths = torch.tensor([24, 20, 9, 1])
    return {"x": x.masked_fill(torch.arange(24)[None] >= lengths[:, None], PAD)}


def trace(spec: dict[str, dict[str, Any]], seed: int = 1) -> tuple[list[list[dict[str, Any]]], torch.Tensor]:
    batch = text_batch()
    views, origins = payloads.traced_views(Pipeline(spec), batch, torch.Generator().manual_seed(seed), 2)
    return payloads.text_payloads(batch["x"], [v["x"] for v in views], origins), batch["x"]


def test_text_deletion_and_crops_change_no_token_but_count_the_dropped() -> None:
    rows, x = trace({"token_deletion": {"p": 0.4}, "span_crop": {"min_fraction": 0.5}})
    assert any(v["dropped"] for row in rows for v in row[1:])
    for row, ids in zip(rows, x.tolist(), strict=True):
        original = [payloads.token_text(t) for t in ids if t != PAD]
        for view in row[1:]:
            assert not any(view["changed"])
            assert len(view["tokens"]) + view["dropped"] == len(original)
            rest = iter(original)  # the view is a subsequence of the original
            assert all(any(t == o for o in rest) for t in view["tokens"])


def test_text_masks_and_substitutions_are_flagged_exactly_even_after_deletion() -> None:
    spec = {"token_deletion": {"p": 0.3}, "token_substitution": {"p": 0.4}, "token_dropout": {"p": 0.2}}
    rows, _ = trace(spec)
    # the same seed without the two later steps: where view 1's tokens were before they were changed
    moved, _ = trace({"token_deletion": {"p": 0.3}})
    flagged = 0
    for row, before in zip(rows, moved, strict=True):
        view, ref = row[1], before[1]
        assert len(view["tokens"]) == len(ref["tokens"])
        expected = [t == payloads.MASK_TOKEN or t != r for t, r in zip(view["tokens"], ref["tokens"], strict=True)]
        assert view["changed"] == expected
        flagged += sum(expected)
    assert flagged > 5


def test_text_payloads_cut_long_sequences_and_show_masks() -> None:
    x = torch.full((1, 300), ord("a") + 2)
    masked = x.clone()
    masked[0, :3] = MASK
    [[original, view]] = payloads.text_payloads(x, [masked], [torch.where(masked == MASK, -1, torch.arange(300))])
    assert len(original["tokens"]) == payloads.MAX_TOKENS and not any(original["changed"])
    assert view["tokens"][:4] == [payloads.MASK_TOKEN] * 3 + ["a"] and view["changed"][:4] == [True] * 3 + [False]


# ---- drawing frozen answers ------------------------------------------------------------------------------

RED, BLUE, WHITE = [255, 0, 0], [0, 0, 255], [255, 255, 255]


def answer_of(modality: str, original: dict[str, Any], views: list[dict[str, Any]], n: int = 3,
              notes: tuple[str, ...] = ()) -> dict[str, Any]:
    samples = [{"label": f"class{i}", "original": original, "views": views} for i in range(n)]
    return {"id": 1, "modality": modality, "samples": samples, "notes": list(notes)}


def image(rows: int, cols: int, top: list[int], bottom: list[int]) -> dict[str, Any]:
    return {"kind": "image", "rgb": [[top if r < rows // 2 else bottom] * cols for r in range(rows)]}


def cells(line: Text) -> list[tuple[str, Style | None]]:
    """Each character of a line with the style it is drawn in."""
    styles: list[Style | None] = [None] * len(line.plain)
    for span in line.spans:
        for k in range(span.start, span.end):
            styles[k] = span.style if isinstance(span.style, Style) else None
    return list(zip(line.plain, styles, strict=True))


def test_images_are_half_block_pixels_side_by_side_and_fewer_when_narrow() -> None:
    answer = answer_of("image", image(4, 4, RED, BLUE), [image(4, 4, BLUE, RED), image(4, 4, WHITE, WHITE)])
    lines = answer_text(answer, 120, 40, mono=False).split("\n")
    assert lines[0].plain.startswith("image: 3 examples, two augmented draws each")
    assert lines[1].plain.split() == ["class0", "view", "1", "view", "2", "class1", "view", "1", "view", "2",
                                      "class2", "view", "1", "view", "2"]
    row = cells(lines[2])  # pixel rows 0 and 1 of the first example: red over red, then the views
    assert [c for c, _ in row[:4]] == ["▀"] * 4
    first, view1, view2 = row[0][1], row[7][1], row[14][1]  # panels at least 6 wide, for their captions
    assert first is not None and first.color is not None and first.color.triplet == (255, 0, 0)
    assert view1 is not None and view1.bgcolor is not None and view1.bgcolor.triplet == (0, 0, 255)
    assert view2 is not None and view2.color is not None and view2.color.triplet == (255, 255, 255)
    assert len(lines) == 1 + 1 + 2  # header, captions, 4 pixel rows in 2 lines
    big = answer_of("image", image(32, 32, RED, BLUE), [image(32, 32, RED, RED)] * 2)
    small = answer_text(big, 80, 24, False).split("\n")
    assert small[0].plain.startswith("image: 3 examples") and max(line.cell_len for line in small) <= 80
    assert len(small) <= 24 and small[1].plain.split()[:4] == ["class0", "view", "1", "view"]
    tiny = answer_text(big, 60, 12, False)
    assert tiny.plain.startswith("image: 1 of 3 examples") and len(tiny.split("\n")) <= 12


def test_without_colour_pixels_and_heat_maps_become_shades() -> None:
    answer = answer_of("image", image(4, 4, WHITE, [0, 0, 0]), [image(4, 4, WHITE, WHITE)] * 2, n=1)
    body = answer_text(answer, 80, 24, mono=True).plain.split("\n")[2:]
    assert body[0][:4] == "████" and body[1][:4] == "    " and body[1][7:11] == "████"  # white over black; white
    spec = {"kind": "spectrogram", "values": [[0.0] * 16] * 8 + [[1.0] * 16] * 8}
    heat = answer_text(answer_of("audio", spec, [spec, spec], n=1), 80, 24, mono=True).plain.split("\n")
    assert "▀" not in "".join(heat) and heat[3][:16] == "█" * 16 and heat[-1][:16] == " " * 16  # loud top rows


def test_spectrograms_are_heat_maps_with_a_scale_low_pitch_at_the_bottom() -> None:
    spec = {"kind": "spectrogram", "values": [[1.0] * 48] + [[0.0] * 48] * 15}  # only the lowest band is loud
    lines = answer_text(answer_of("audio", spec, [spec, spec]), 120, 40, mono=False).split("\n")
    assert "quiet" in lines[1].plain and "loud" in lines[1].plain
    bottom = cells(lines[-1])[0][1]  # the last line holds the two lowest bands: loud on quiet
    top = cells(lines[3])[0][1]
    assert bottom is not None and bottom.bgcolor is not None and bottom.bgcolor.triplet == (252, 253, 191)
    assert top is not None and top.color is not None and top.color.triplet == (0, 0, 4)


def test_text_highlights_changed_tokens_in_reverse_and_underline() -> None:
    original = {"kind": "text", "tokens": list("hello world"), "changed": [False] * 11, "dropped": 0}
    view = {"kind": "text", "tokens": ["h", "<mask>", "<mask>", "l", "o", " ", "w", "x", "d"],
            "changed": [False, True, True, False, False, False, False, True, False], "dropped": 2}
    lines = answer_text(answer_of("text", original, [view, original]), 80, 24, mono=False).split("\n")
    assert [line.plain.rstrip() for line in lines[1:5]] == [
        "class0", "orig   hello world", "view 1 h__lo wxd  −2", "view 2 hello world"]
    marked = [c for c, style in cells(lines[3]) if style is not None and style.reverse and style.underline]
    assert marked == ["_", "_", "x"]


def test_video_is_a_strip_of_frames_per_view_and_graphs_one_line_each() -> None:
    clip = {"kind": "frames", "frames": [image(4, 4, RED, BLUE)["rgb"]] * 6, "index": [0, 1, 3, 4, 6, 7]}
    lines = answer_text(answer_of("video", clip, [clip, clip], notes=("6 of 8 frames shown",)), 120, 40, False)
    plain = lines.plain.split("\n")
    assert plain[0].endswith("· 6 of 8 frames shown")
    assert [p[:6] for p in plain[1:8]] == ["class0", "orig  ", "      ", "view 1", "      ", "view 2", "      "]
    assert plain[2][7:36].split() == plain[3][7:36].split() == ["▀▀▀▀"] * 6  # 4 × 4 frames: 2 lines of 4 cells
    assert plain[1].split() == ["class0", "class1", "class2"]  # three clips side by side at 120 columns
    g = {"kind": "graph", "nodes": 15, "edges": 23, "dropped_nodes": 0, "dropped_edges": 0, "masked_features": 0,
         "features": 8}
    v = {**g, "nodes": 12, "edges": 12, "dropped_nodes": 3, "dropped_edges": 11, "masked_features": 12}
    graph = answer_text(answer_of("graph", g, [v, g]), 80, 24, False).plain.split("\n")
    assert graph[2].split() == ["class0", "15", "n", "23", "e", "−3", "n", "−11", "e", "12", "f", "0", "n", "0", "e",
                                "0", "f"]
    assert len(graph) == 2 + 3 + 1 and max(map(len, graph)) <= 80


def test_video_at_80x24_shows_a_clip_with_frames_big_enough_to_see_motion() -> None:
    """Issue 12: the launcher's preview (78 × 7 cells at 80×24) showed no video at all."""
    clip = {"kind": "frames", "frames": [image(16, 16, RED, BLUE)["rgb"]] * 6, "index": [0, 1, 3, 4, 6, 7]}
    for width, height, strips in ((78, 7, ["orig"]), (118, 14, ["orig", "view 1", "view 2"])):
        plain = answer_text(answer_of("video", clip, [clip, clip]), width, height, False).plain.split("\n")
        assert plain[1].split()[0] == "class0" and len(plain) <= height
        assert ("need a taller terminal" in plain[1]) == (len(strips) < 3)
        assert [line[:6].strip() for line in plain[2:] if line[:6].strip()] == strips
        frame = plain[2][7:].split()
        assert len(frame) >= 4 and all(len(f) >= 8 for f in frame), plain  # ≥ 4 frames of ≥ 8 × 8 pixels


def test_a_graph_is_drawn_with_the_nodes_and_edges_a_view_dropped() -> None:
    ring = [[k, k + 1] for k in range(7)] + [[0, 7]]
    g = {"kind": "graph", "nodes": 8, "edges": 8, "dropped_nodes": 0, "dropped_edges": 0, "masked_features": 0,
         "features": 4, "kept_nodes": [True] * 8, "edge_list": ring, "kept_edges": [True] * 8}
    v = {**g, "nodes": 7, "edges": 6, "dropped_nodes": 1, "dropped_edges": 2, "masked_features": 3,
         "kept_nodes": [True] * 7 + [False], "kept_edges": [True] * 6 + [False, False]}
    for mono in (False, True):
        text = answer_text(answer_of("graph", g, [v, g], n=1), 80, 16, mono)
        lines = text.plain.split("\n")
        assert lines[1].split() == ["class0", "view", "1", "view", "2"] and max(map(len, lines)) <= 80
        panels = [[line[k * 27 : k * 27 + 26] for line in lines[2:-2]] for k in range(3)]  # 26 columns each
        glyphs = ["".join(panel) for panel in panels]
        assert [g.count("o") for g in glyphs] == [8, 7, 8] and [g.count("×") for g in glyphs] == [0, 1, 0]
        assert ":" in glyphs[1] and ":" not in glyphs[0] + glyphs[2]  # the dropped edges, drawn apart
        assert lines[-2].split()[:8] == ["8", "n", "8", "e", "−1", "n", "−2", "e"] and "dropped edge" in lines[-1]
        assert len(lines) <= 16
    compact = answer_text(answer_of("graph", g, [v, g], n=1), 78, 7, False).plain.split("\n")  # 80×24's preview
    assert len(compact) == 7 and "".join(compact[1:5]).count("×") == 1  # 4 lines of drawing
    assert compact[5].split()[:5] == ["class0", "8", "n", "8", "e"] and "view 1" in compact[5]


def test_an_error_answer_is_one_red_line() -> None:
    text = answer_text({"id": 3, "error": "experiment: data.modality: unknown modality 'imgae'"}, 80, 24, False)
    assert text.plain == "preview: experiment: data.modality: unknown modality 'imgae'"
    assert text.style == "bold red"


# ---- the widget, live --------------------------------------------------------------------------------------


class PreviewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AugmentationPreview(id="preview")


def test_widget_starts_the_server_and_draws_the_latest_experiment() -> None:
    async def body() -> None:
        app = PreviewApp()
        async with app.run_test(size=(120, 40)) as pilot:
            preview = app.query_one(AugmentationPreview)
            assert str(preview.render()) == LOADING
            for modality in ("audio", "graph", "image"):  # within the debounce: only the last is sent
                preview.show_experiment({"data": TINY_DATA[modality]})
            await wait_for_async(lambda: preview.answer is not None, timeout=90, what="the server's first answer")
            await pilot.pause()
            assert preview.last_id == 1 and preview.problem is None
            shown = str(preview.render())
            assert shown.startswith("image: 3 examples, two augmented draws each") and "▀" in shown
            preview.show_experiment({"data": TINY_DATA["text"], "augment": {"token_dropout": {"p": 9}}})
            await wait_for_async(lambda: preview.last_id == 2 and not preview.busy, timeout=90, what="answer 2")
            assert str(preview.render()).startswith("preview: experiment: augment.token_dropout.p: got 9.0")
            client = preview.client
        assert client is not None and client.process is not None and client.process.poll() is not None  # closed

    asyncio.run(body())


@pytest.mark.parametrize("command", [("/nonexistent/python",), (sys.executable, "-c", "import sys; "
                                                                  "sys.stderr.write('no torch here\\n'); sys.exit(3)")])
def test_widget_says_in_one_line_why_there_is_no_preview(monkeypatch: pytest.MonkeyPatch,
                                                         command: tuple[str, ...]) -> None:
    monkeypatch.setattr(preview_client, "COMMAND", command)

    async def body() -> None:
        app = PreviewApp()
        async with app.run_test(size=(80, 24)) as pilot:
            preview = app.query_one(AugmentationPreview)
            preview.show_experiment({"data": TINY_DATA["image"]})
            await wait_for_async(lambda: preview.problem is not None, timeout=30, what="the problem to be shown")
            await pilot.pause()
            text = str(preview.render())
            assert text.startswith("preview unavailable: ")
            assert ("could not start /nonexistent/python" in text) if len(command) == 1 else (
                text == "preview unavailable: the preview process exited (code 3): no torch here")

    asyncio.run(body())


def test_the_widget_imports_without_torch() -> None:
    code = "import sys, sslterm.tui.widgets.preview; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
