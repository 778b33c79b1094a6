"""The TOML editor the launcher saves with (tomlkit): unchanged files stay byte for byte, edits keep comments."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sslterm import tomlio
from sslterm.tomledit import update_toml

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT_FILES = sorted((ROOT / "experiments").glob("*.toml"))

TRICKY = '''# top comment
name = "x"   # the name
list = [
  1,
  2,
]  # tail
s = "a # not a comment"

[model]  # model header
# about width
width = 16  # px
opts.depth = 2
inline = { a = 1, b = "#" }

[augment.crop]
p = 0.5

# leads into flip
[augment.flip]
p = 0.1
'''


def test_unchanged_document_leaves_every_shipped_file_byte_for_byte() -> None:
    assert len(EXPERIMENT_FILES) > 20
    for path in EXPERIMENT_FILES:
        text = path.read_text()
        assert update_toml(text, tomlio.loads(text)) == text, path.name
    assert update_toml(TRICKY, tomlio.loads(TRICKY)) == TRICKY


def test_tomlkit_is_imported_only_when_saving() -> None:
    code = ("import sys, sslterm.tomledit, sslterm.tui.draft\n"
            "print('tomlkit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_changed_values_keep_their_line_and_comment() -> None:
    doc = tomlio.loads(TRICKY)
    doc["name"], doc["list"], doc["model"]["width"] = "y", [3], 8
    doc["model"]["opts"]["heads"] = 4
    doc["model"]["inline"]["c"] = 2.5
    out = update_toml(TRICKY, doc)
    assert tomlio.loads(out) == doc
    lines = out.splitlines()
    assert 'name = "y"   # the name' in lines and "list = [3]  # tail" in lines and "width = 8  # px" in lines
    assert "opts.heads = 4" in lines and "opts.depth = 2" in lines
    inline = next(line for line in lines if line.startswith("inline"))
    assert tomlio.loads(inline)["inline"] == {"a": 1, "b": "#", "c": 2.5}
    assert lines[lines.index("width = 8  # px") - 1] == "# about width"


def test_tables_are_removed_with_their_lines_and_added_after_their_sibling() -> None:
    doc = tomlio.loads(TRICKY)
    del doc["augment"]["crop"]
    doc["augment"]["blur"] = {"p": 0.2}
    out = update_toml(TRICKY, doc)
    assert tomlio.loads(out) == doc and list(tomlio.loads(out)["augment"]) == ["flip", "blur"]
    assert "[augment.crop]" not in out and "# leads into flip" in out
    assert out.endswith("[augment.flip]\np = 0.1\n\n[augment.blur]\np = 0.2\n")
    doc["augment"] = {}
    emptied = update_toml(TRICKY, doc)
    assert tomlio.loads(emptied)["augment"] == {}  # an empty [augment] stays: no augmentations, not the defaults


def test_arrays_of_tables_are_edited_and_broken_text_is_refused() -> None:
    assert tomlio.loads(update_toml("[[runs]]\nx = 1  # one\n", {"runs": [{"x": 2}]})) == {"runs": [{"x": 2}]}
    with pytest.raises(ValueError, match="not valid TOML"):
        update_toml("x = = 1\n", {"x": 1})


def test_a_switched_on_table_goes_back_to_its_place_and_an_emptied_table_stays() -> None:
    doc = tomlio.loads(TRICKY)
    doc["augment"] = {"blur": {"p": 0.3}, **doc["augment"]}
    out = update_toml(TRICKY, doc)
    assert list(tomlio.loads(out)["augment"]) == ["blur", "crop", "flip"] and "# leads into flip" in out
    doc["augment"], doc["model"]["opts"] = {}, {}
    assert tomlio.loads(update_toml(TRICKY, doc)) == doc  # an empty [augment]: none, not the defaults


def _tables(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in doc.items():
        if isinstance(v, dict):
            out += [(*prefix, k), *_tables(v, (*prefix, k))]
    return out


def _leaves(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in doc.items():
        out += _leaves(v, (*prefix, k)) if isinstance(v, dict) else [(*prefix, k)]
    return out


def _node(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def _removed_regions(text: str, doc: dict[str, Any]) -> set[int]:
    """Lines from each header whose table is gone up to the next header: comments there may go."""
    gone: set[int] = set()
    inside = False
    for i, line in enumerate(text.splitlines()):
        if line.startswith("["):
            head, path = tomlio.loads(line), ()
            while isinstance(head, dict) and len(head) == 1:
                (k, head), = head.items()
                path += (k,)
            inside = not isinstance(_node(doc, path), dict)
        if inside:
            gone.add(i)
    return gone


# tomlio writes DEL raw in strings and non-BMP characters of keys as surrogate pairs, both invalid TOML;
# the editor is tested with what tomlio writes correctly.
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f", max_codepoint=0xFFFF)
KEYS = st.one_of(st.from_regex(r"[a-z_][a-z0-9_-]{0,7}", fullmatch=True), st.text(CHARS, min_size=1, max_size=6))
SCALARS = st.one_of(st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=False),
                    st.text(CHARS, max_size=12), st.lists(st.integers(-9, 9), max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_edit_of_a_real_experiment_reads_back_and_keeps_its_comments(data: st.DataObject) -> None:
    text = data.draw(st.one_of(st.sampled_from([path.read_text() for path in EXPERIMENT_FILES]), st.just(TRICKY)))
    doc = tomlio.loads(text)
    new = copy.deepcopy(doc)
    for path in _tables(doc):
        parent = _node(new, path[:-1])
        if isinstance(parent, dict) and path[-1] in parent and data.draw(st.integers(0, 9)) == 0:
            del parent[path[-1]]
    for path in _leaves(new):
        action = data.draw(st.sampled_from(["keep", "keep", "change", "delete"]))
        if action == "change":
            _node(new, path[:-1])[path[-1]] = data.draw(SCALARS)
        elif action == "delete":
            del _node(new, path[:-1])[path[-1]]
    for _ in range(data.draw(st.integers(0, 4))):
        parent = _node(new, data.draw(st.sampled_from([(), *_tables(new)])))
        value = data.draw(st.one_of(SCALARS, st.dictionaries(KEYS, SCALARS, max_size=2)))
        parent.setdefault(data.draw(KEYS), value)
    out = update_toml(text, new)
    assert tomlio.loads(out) == new
    gone = _removed_regions(text, new)
    kept = out.splitlines()
    for i, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("#") and i not in gone:
            assert line in kept
    if isinstance(new.get("augment"), dict):  # augmentations apply in file order: it must not change
        tables = [k for k, v in tomlio.loads(out)["augment"].items() if isinstance(v, dict)]
        assert tables == [k for k, v in new["augment"].items() if isinstance(v, dict)]


def test_a_new_key_goes_before_the_comment_that_leads_into_the_next_table() -> None:
    text = "[data]\nnum_samples = 64  # few\n\n# the encoder\n[model]\nwidth = 4\n"
    doc = tomlio.loads(text)
    doc["data"]["modality"], doc["model"]["encoder"] = "image", "cnn"
    assert update_toml(text, doc) == ('[data]\nnum_samples = 64  # few\nmodality = "image"\n\n# the encoder\n'
                                      '[model]\nwidth = 4\nencoder = "cnn"\n')


def test_an_empty_table_added_among_sub_table_headers_gets_its_own_header() -> None:
    text = "[augment.crop]\np = 0.5\n\n[augment.flip]\np = 0.1\n"
    new = tomlio.loads(text)
    new["augment"]["_"] = {}                  # written `_ = {}` it would land in [augment.flip]
    out = update_toml(text, new)
    assert tomlio.loads(out) == new and out.startswith(text)
