"""The launcher: its form driven with Pilot (save, launch, checks); its TOML editor is tested in test_tomledit.py."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static

from sslterm import catalog, config
from sslterm.launch import prepare
from sslterm.tui.app import make_app
from sslterm.tui.draft import Draft
from sslterm.tui.draft_file import experiment_file_name
from sslterm.tui.screens import launcher as launcher_screen
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.screens.dialogs import ChooseScreen, ConfirmScreen, HelpScreen, PromptScreen, keys_help
from sslterm.tui.screens.launcher import LauncherScreen
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.widgets.field import Field
from tests.conftest import wait_for_async

ROOT = Path(__file__).resolve().parents[1]


class FakePreview(Widget):
    """Stands in for the augmentation preview (whose server imports torch): records what it was asked to show."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.docs: list[dict[str, Any]] = []

    def show_experiment(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with an empty experiments/ (the app saves there) and the preview faked."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(launcher_screen, "AugmentationPreview", FakePreview)
    (tmp_path / "experiments").mkdir()
    return tmp_path


async def open_launcher(pilot: Pilot[None]) -> LauncherScreen:
    await pilot.pause()
    assert isinstance(pilot.app.screen, RunsScreen)
    await pilot.press("l")
    for _ in range(5):
        await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, LauncherScreen)
    return screen


def field(pilot: Pilot[None], key: str) -> Field:
    found = [f for f in pilot.app.screen.query(Field) if f.spec.key == key]
    assert found, f"no field {key}"
    return found[0]


async def activate(pilot: Pilot[None], key: str, press: str = "enter") -> None:
    field(pilot, key).focus()
    await pilot.pause()
    await pilot.press(press)
    await pilot.pause()


async def type_into(pilot: Pilot[None], key: str, text: str) -> None:
    await activate(pilot, key)
    await pilot.press("ctrl+u", *text, "enter")
    await pilot.pause()
    await pilot.pause()


async def choose(pilot: Pilot[None], name: str) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, ChooseScreen)
    here, there = screen.query_one(OptionList).highlighted or 0, screen.names.index(name)
    for _ in range(abs(there - here)):
        await pilot.press("down" if there > here else "up")
    await pilot.press("enter")
    for _ in range(3):
        await pilot.pause()


def notes(pilot: Pilot[None]) -> list[str]:
    """The messages of the notifications shown, oldest first."""
    return [n.message for n in pilot.app._notifications]


def status(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#launcher-status", Static).render())


def test_objectives_and_augmentations_follow_the_modality(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            assert field(pilot, "objective.name").spec.choices == catalog.names("objective", "image")
            await activate(pilot, "data.modality")
            await choose(pilot, "text")
            assert screen.draft.modality == "text"
            assert field(pilot, "objective.name").spec.choices == catalog.names("objective", "text")
            assert "rotation" in catalog.names("objective", "image")
            assert "rotation" not in field(pilot, "objective.name").spec.choices
            toggles = {f.spec.key.split(".")[1] for f in screen.query(Field) if f.spec.kind == "augmentation"}
            assert toggles == set(catalog.names("augmentation", "text"))
            await activate(pilot, "data.dataset")
            title = pilot.app.screen.query_one(".dialog-body", Static)
            assert "for your own data" in str(title.render()) and title.size.height == 2  # wrapped, not cut
            await pilot.press("escape")
            await pilot.pause()
            await activate(pilot, "objective.name")
            assert pilot.app.screen.names == list(catalog.names("objective", "text"))
            await choose(pilot, "next_token")
            assert screen.draft.experiment is not None
            assert screen.draft.experiment.objective.name == "next_token"
            assert screen.draft.get("name") == "text-next_token"  # the default name follows the choice
            assert field(pilot, "objective.shift").value == 1  # the new objective's own parameters show
            assert "token_deletion" not in screen.draft.raw["augment"]  # its targets are its input: left out
            await activate(pilot, "objective.name")
            await choose(pilot, "infonce")
            assert list(screen.draft.raw["augment"]) == list(config.default_augment("text", "infonce"))

    asyncio.run(body())


def test_augmentations_follow_the_objective_until_the_user_changes_them() -> None:
    draft = Draft.defaults("text")
    assert list(draft.raw["augment"]) == ["span_crop", "token_deletion", "span_masking"]
    draft.set("objective.name", "masked")                      # targets are the input: no token deletion
    assert list(draft.raw["augment"]) == list(config.default_augment("text", "masked")) == ["span_crop", "span_masking"]
    draft.set("objective.name", "infonce")
    assert "token_deletion" in draft.raw["augment"]
    draft.toggle("token_deletion")                             # the user's own choice from here on
    draft.set("objective.name", "masked")
    draft.set("objective.name", "infonce")                     # equal to masked's defaults, but chosen: kept
    assert list(draft.raw["augment"]) == ["span_crop", "span_masking"]
    assert draft.experiment is not None
    changed = Draft.defaults("text")
    changed.set("augment.span_crop.min_fraction", 0.5)         # a value set is a choice too
    changed.set("objective.name", "masked")
    assert "token_deletion" in changed.raw["augment"]


def test_a_files_augmentations_stay_when_the_objective_changes(tmp_path: Path) -> None:
    path = tmp_path / "masked.toml"
    path.write_text('[data]\nmodality = "text"\n[objective]\nname = "masked"\n'
                    "[augment.span_crop]\n[augment.span_masking]\n")
    draft = Draft.load(path)
    draft.set("objective.name", "infonce")
    assert list(draft.raw["augment"]) == ["span_crop", "span_masking"]
    plain = tmp_path / "plain.toml"                            # no [augment] table: the defaults follow
    plain.write_text('[data]\nmodality = "text"\n[objective]\nname = "masked"\n')
    draft = Draft.load(plain)
    assert "token_deletion" not in draft.raw["augment"]
    draft.set("objective.name", "infonce")
    assert "token_deletion" in draft.raw["augment"]


def test_out_of_range_value_is_shown_at_its_field_and_blocks_saving(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            preview = screen.query_one(FakePreview)
            assert preview.docs and preview.docs[-1]["augment"].keys() == set(
                catalog.get("modality", "image").extra["default_augment"])
            assert not any(f.spec.key.startswith("augment.gaussian_blur.") for f in screen.query(Field))
            await activate(pilot, "augment.gaussian_blur", press="space")
            assert screen.draft.enabled("gaussian_blur")
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "augment.gaussian_blur"
            assert "gaussian_blur" in preview.docs[-1]["augment"]
            shown = len(preview.docs)
            await type_into(pilot, "augment.gaussian_blur.p", "1.5")
            error = field(pilot, "augment.gaussian_blur.p").error
            assert error == "got 1.5, expected a number with 0 ≤ value ≤ 1"
            assert "augment.gaussian_blur.p: got 1.5" in status(pilot)
            assert len(preview.docs) == shown  # an invalid experiment is not previewed
            field(pilot, "train.steps").focus()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert pilot.app.screen is screen  # no file name asked for: a notification says why
            assert notes(pilot)[-1] == ("not saved: augment.gaussian_blur.p: got 1.5, expected a number with "
                                        "0 ≤ value ≤ 1")
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "augment.gaussian_blur.p"
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert pilot.app.screen is screen and notes(pilot)[-1].startswith("not launched: augment.gaussian_blur.p")
            await type_into(pilot, "augment.gaussian_blur.p", "0.25")
            assert field(pilot, "augment.gaussian_blur.p").error is None
            assert "✓" in status(pilot) and screen.check_action("save", ())
            assert preview.docs[-1]["augment"]["gaussian_blur"]["p"] == 0.25
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(pilot.app.screen, ConfirmScreen)  # unsaved changes: asked before leaving
            await pilot.press("y")
            await pilot.pause()
            assert isinstance(pilot.app.screen, RunsScreen)

    asyncio.run(body())


def test_keyboard_walks_the_fields_and_escape_cancels_an_edit(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "name"
            await pilot.press("tab", "down")
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "data.modality"
            await pilot.press("shift+tab")
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "seed"
            rows = [f for f in screen.query(Field) if f.focusable]
            await pilot.press("end")
            assert screen.focused is rows[-1] and screen.focused.region.bottom <= 24, "the last row, scrolled to"
            await pilot.press("pageup", "pageup")
            assert screen.focused is rows[-21]
            await pilot.press("home", "pagedown")
            assert screen.focused is rows[10]
            await pilot.press("home", "end", "home", "down", "down")                # typed at full speed
            assert screen.focused is rows[2]
            field(pilot, "seed").focus()
            await pilot.pause()
            await pilot.press("enter", "ctrl+u", "4", "2", "escape")
            await pilot.pause()
            assert screen.draft.get("seed") is None and not screen.draft.dirty
            await pilot.press("question_mark")
            body = str(pilot.app.screen.query_one(".dialog-body", Static).render())
            assert "Launcher" in body
            help_screen = pilot.app.screen
            assert isinstance(help_screen, HelpScreen)  # made from the bindings, as on the other screens
            assert help_screen.keys == keys_help(screen, LauncherScreen.HELP_NOTES)
            assert {"^s", "^l", "o", "p", "?", "q esc", "tab ↑ ↓"} <= {key for key, _ in help_screen.keys}
            assert "or a file in experiments/" in " ".join(body.split())  # wrapped, not cut at 80 columns
            assert pilot.app.screen.query_one(".dialog").region.right <= 80
            await pilot.press("escape", "q")
            await pilot.pause()
            assert isinstance(pilot.app.screen, RunsScreen)

    asyncio.run(body())


def test_keys_typed_fast_after_enter_go_into_the_editor_in_order(workdir: Path) -> None:
    """A burst of keys (fast typing, a paste) reaches the rows before the editor is mounted: none is lost."""

    async def burst(pilot: Pilot[None], *keys: str) -> None:
        for key in keys:  # all queued at once, as a terminal delivers them, not one per refresh as press does
            pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))
        for _ in range(10):
            await pilot.pause()

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await burst(pilot, "down", "enter", "ctrl+u", "7", "enter", "up", "enter", "ctrl+u", "x", "y", "enter")
            assert screen.draft.get("seed") == 7 and screen.draft.get("name") == "xy"
            assert not screen.query(Input)  # no editor left open (a second enter used to open a second one)
            await burst(pilot, "down", "enter", "ctrl+u", "9", "escape")
            assert screen.draft.get("seed") == 7 and not screen.query(Input)
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "seed"

    asyncio.run(body())


def test_typing_after_enter_replaces_the_value_and_an_arrow_key_keeps_it(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            steps = field(pilot, "train.steps").value
            await activate(pilot, "train.steps")
            editor = screen.query_one(Input)
            assert editor.selected_text == str(steps)  # the value is selected: what is typed replaces it
            await pilot.press("1", "0", "0", "enter")
            await pilot.pause()
            assert screen.draft.get("train.steps") == 100
            await activate(pilot, "train.steps")
            await pilot.press("end", "0", "enter")  # moving the cursor first edits the value instead
            await pilot.pause()
            assert screen.draft.get("train.steps") == 1000

    asyncio.run(body())


def test_keys_typed_fast_after_enter_replace_the_value(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            assert screen.draft.get("name") == "image-infonce"
            for key in ("enter", "x", "y", "enter", "down", "enter", "4", "2", "enter"):  # queued at once
                pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))
            for _ in range(10):
                await pilot.pause()
            assert screen.draft.get("name") == "xy" and screen.draft.get("seed") == 42
            assert not screen.query(Input)

    asyncio.run(body())


def in_view(screen: LauncherScreen, row: Widget) -> bool:
    """Whether all of ``row`` (its problem and notes too) shows in the visible part of the form."""
    form = screen.query_one("#launcher-form")
    return bool(row.region) and form.scrollable_content_region.contains_region(row.region)


def test_the_focused_row_stays_in_view_when_rows_come_and_go(workdir: Path) -> None:
    """At 80×24 the preview takes half the height: switching an augmentation off or on keeps its row shown."""

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await activate(pilot, "data.modality")
            await choose(pilot, "audio")
            keys = [f.spec.key for f in screen.query(Field)]
            field(pilot, "data.modality").focus()
            await pilot.pause()
            for _ in range(keys.index("augment.time_masking") - keys.index("data.modality") - 1):
                await pilot.press("down")
            focused: list[str] = []  # Textual scrolls to each row focused: the rebuilt row's table may not pass one
            screen.watch(screen, "focused", lambda w: focused.append(w.spec.key if isinstance(w, Field) else ""),
                         init=False)
            for burst in (("down", "space"), ("space",), ("space",)):  # off, on, off: its parameters go, come, go
                for key in burst:  # at once, as a terminal delivers them: the scroll of the down still runs
                    pilot.app.post_message(events.Key(key, " " if key == "space" else None))
                await pilot.pause()

                def settled() -> bool:  # the rebuild and its scroll done, however loaded the machine
                    row = screen.focused
                    return (isinstance(row, Field) and row.spec.key == "augment.time_masking" and in_view(screen, row)
                            and not screen.query_one("#launcher-form").is_scrolling)

                await wait_for_async(settled, timeout=30, what=lambda: f"the row in view: {screen.focused!r} at "
                                     f"{getattr(screen.focused, 'region', None)} in "
                                     f"{screen.query_one('#launcher-form').region}")
                assert set(focused) <= {"", "augment.time_masking"}, focused
            await type_into(pilot, "train.steps", "40")  # two notes under the row: shown with it
            row = field(pilot, "train.steps")
            assert screen.focused is row and len(row.notes) == 2 and row.region.height == 3
            assert in_view(screen, row)

    asyncio.run(body())


def test_a_run_shorter_than_its_intervals_gets_notes_not_an_error(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            exp = screen.draft.experiment
            assert exp is not None and (exp.eval.every, exp.train.snapshot_every) == (100, 50)
            assert not any(f.notes for f in screen.query(Field))
            await type_into(pilot, "train.steps", "80")
            eval_note = "note: eval.every 100 ≥ 80 steps: representation measured at the end only"
            assert field(pilot, "train.steps").notes == field(pilot, "eval.every").notes == (eval_note,)
            assert eval_note in str(field(pilot, "train.steps").render())
            assert "✓" in status(pilot) and screen.check_action("save", ()) and screen.check_action("launch", ())
            await type_into(pilot, "train.steps", "40")
            snapshot_note = "note: snapshot_every 50 ≥ 40 steps: similarity at steps 0 and 40 only"
            assert field(pilot, "train.steps").notes == (eval_note.replace("80", "40"), snapshot_note)
            assert field(pilot, "train.snapshot_every").notes == (snapshot_note,)
            await type_into(pilot, "eval.every", "0")  # evaluation off: nothing to note about it
            assert field(pilot, "train.steps").notes == (snapshot_note,) and not field(pilot, "eval.every").notes
            await type_into(pilot, "train.steps", "500")
            assert not any(f.notes for f in screen.query(Field))

    asyncio.run(body())


def test_a_new_file_loads_back_as_the_experiment_shown(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await type_into(pilot, "train.steps", "7")
            await activate(pilot, "augment.grayscale", press="space")
            await pilot.press("ctrl+s")
            await pilot.pause()
            prompt = pilot.app.screen
            assert isinstance(prompt, PromptScreen) and prompt.value == "image-infonce.toml"
            await pilot.press("ctrl+u", *"sub/dir.toml", "enter")
            await pilot.pause()
            assert isinstance(pilot.app.screen, PromptScreen)  # asked again: a path is refused
            assert not (workdir / "experiments" / "sub").exists()
            await pilot.press("ctrl+u", *"mine", "enter")
            await pilot.pause()
            saved = workdir / "experiments" / "mine.toml"
            assert pilot.app.screen is screen and not screen.draft.dirty
            loaded = config.load(saved)
            assert loaded == screen.draft.experiment
            assert loaded.train.steps == field(pilot, "train.steps").value == 7
            assert "grayscale" not in loaded.augment
            assert saved.read_text().startswith("# image-infonce: infonce on shapes (image)")

    asyncio.run(body())


def test_saving_over_a_commented_file_keeps_its_comments(workdir: Path) -> None:
    original = ROOT / "experiments" / "image-simclr.toml"
    shutil.copy(original, workdir / "experiments" / "image-simclr.toml")
    shutil.copy(original, workdir / "experiments" / "other.toml")

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await pilot.press("o")
            await pilot.pause()
            await choose(pilot, "image-simclr.toml")
            assert screen.draft.path == workdir / "experiments" / "image-simclr.toml"
            assert field(pilot, "augment.color_jitter.brightness").value == 0.6
            await activate(pilot, "augment.color_jitter", press="space")
            await type_into(pilot, "train.lr", "0.001")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert pilot.app.screen.value == "image-simclr.toml"
            await pilot.press("ctrl+u", *"other", "enter")
            await pilot.pause()
            assert isinstance(pilot.app.screen, ConfirmScreen)  # other.toml exists: asked first
            await pilot.press("y")
            await pilot.pause()
            text = (workdir / "experiments" / "other.toml").read_text()
            assert config.load(workdir / "experiments" / "other.toml") == screen.draft.experiment
            assert "lr = 0.001" in text and "[augment.color_jitter]" not in text
            comments = [line for line in original.read_text().splitlines() if line.startswith("#")]
            assert comments and all(line in text.splitlines() for line in comments)
            assert text.splitlines()[4:8] == original.read_text().splitlines()[4:8]  # untouched lines stay

    asyncio.run(body())


def test_launch_starts_the_shown_experiment_and_opens_its_dashboard(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[tuple[config.Experiment, Path, str]] = []

    class Finished:
        pid = 0

        def wait(self) -> int:
            return 0

    def fake_launch(exp: config.Experiment, root: Path, source: str = "") -> tuple[Any, Finished]:
        launched.append((exp, root, source))
        return prepare(exp, root, source), Finished()  # the run directory, without a worker

    monkeypatch.setattr(launcher_screen, "launch", fake_launch)

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await type_into(pilot, "train.steps", "3")
            await activate(pilot, "train.device")
            await choose(pilot, "cpu")
            expected = screen.draft.experiment
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert isinstance(pilot.app.screen, ConfirmScreen)
            await pilot.press("y")
            for _ in range(3):
                await pilot.pause()
            assert [(exp, root) for exp, root, _ in launched] == [(expected, workdir / "runs")]
            assert expected is not None and expected.train.steps == 3 and expected.train.device == "cpu"
            dashboard = pilot.app.screen
            assert isinstance(dashboard, DashboardScreen)
            assert config.load(dashboard.run.path / "config.toml") == expected
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(pilot.app.screen, RunsScreen)  # the launcher closed on launching

    asyncio.run(body())


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "dir\\x", "tab\there"])
def test_file_names_that_are_paths_or_hidden_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        experiment_file_name(name)


def test_file_name_gets_its_extension() -> None:
    assert experiment_file_name(" mine ") == "mine.toml"
    assert experiment_file_name("a.toml") == "a.toml"


@pytest.mark.parametrize(("modality", "data_file"), [(None, "x.npz"), ("text", "x.txt")])
def test_a_file_giving_only_data_path_shows_your_own_files_not_a_built_in_dataset(
        tmp_path: Path, modality: str | None, data_file: str) -> None:
    (tmp_path / data_file).write_text("")
    exp = tmp_path / "mine.toml"
    exp.write_text((f'[data]\nmodality = "{modality}"\n' if modality else "[data]\n") + f'path = "{data_file}"\n')
    draft = Draft.load(exp)
    files = f"{modality or 'image'}_files"  # what the loader reads such a file as
    assert draft.get("data.dataset") == files, draft.raw
    shown = {spec.key for _, specs in draft.sections() for spec in specs}
    assert {"data.path", "data.format"} <= shown  # the dataset's own fields: the file and its format
    assert draft.value(draft.spec_of("data.path")) == data_file
    assert not draft.dirty  # naming the dataset is no edit of the file
