"""The launcher: configure an experiment field by field with the loader's checks, preview it, save it or launch it."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.widgets import Static

from sslterm.config import ConfigError
from sslterm.launch import launch
from sslterm.tui.draft import TITLES, Draft, FieldSpec, Problem, parse_entry
from sslterm.tui.draft_file import experiment_file_name, write_experiment
from sslterm.tui.hints import field_notes
from sslterm.tui.key_order import KeysInOrder
from sslterm.tui.messages import OpenRun
from sslterm.tui.screens.dialogs import ChooseScreen, ConfirmScreen, HelpScreen, PromptScreen, keys_help
from sslterm.tui.screens.launcher_sweep import SweepLauncher
from sslterm.tui.sweep_pace import SweepPace
from sslterm.tui.widgets.field import Field, FieldEditor, value_text
from sslterm.tui.widgets.footer import AppFooter
from sslterm.tui.widgets.preview import AugmentationPreview


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the worker in the background so that it leaves no zombie (which would look alive) behind."""
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


class LauncherScreen(SweepLauncher):
    """A form over one experiment draft: every change is checked at once; save and launch wait for a valid one."""

    # the preview moves to the right when wide (textual types this as an instance variable, hence no ClassVar)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="save as TOML in experiments/ (an existing file keeps its comments)"),
        Binding("ctrl+l", "launch", "Launch",
                tooltip="launch a run now and watch it; a sweep (a swept field, seeds above 1): start it"),
        Binding("L", "launch", "Launch", show=False, tooltip="launch, as ctrl+l"),
        Binding("o", "open", "Open", tooltip="start from the modality's defaults or a file in experiments/"),
        Binding("w", "sweep", "Sweep", tooltip="sweep the field: a list (0.1, 0.2, 0.5) or a range (1e-4..1e-2 log 5, "
                "1..8 step 2); on a swept field: back to one value"),
        Binding("p", "toggle_preview", "Preview", tooltip="show or hide the augmentation preview"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("q,escape", "back", "Back", key_display="q esc",
                tooltip="back to the runs (asks if there are unsaved changes)"),
    ]
    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [  # what the rows do: not bindings of the screen
        ("tab ↑ ↓", "next / previous field (shift+tab: back)"),
        ("home end", "first / last field (pgup pgdn: 10 fields up / down)"),
        ("enter", "edit the field (enter applies, esc cancels) or pick from a list"),
        ("space", "switch an augmentation or a true/false on or off"),
        ("seeds", "runs per setting (seed, seed + 1, ...): above 1, or a swept field, makes launch start a sweep"),
        ("parallel", "a sweep's runs at once (0: one per visible GPU, one on a machine without)"),
        ("", "Save and launch wait until every value is allowed: the problem shows under its field and at the "
             "bottom."),
    ]

    def __init__(self, runs_root: Path, experiments_dir: Path, draft: Draft | None = None) -> None:
        super().__init__()
        self.runs_root = runs_root
        self.experiments_dir = experiments_dir
        self.draft = draft or Draft.defaults()
        self._previewed: dict[str, Any] | None = None
        self._pace = SweepPace(runs_root)  # how long a sweep takes here, from recent runs (read in a thread)
        self._ready = False  # the form is shown and filled in: keys before that wait for it (takes_keys)

    def compose(self) -> ComposeResult:
        yield Static("", id="launcher-title")
        with Container(id="launcher-body"):
            with VerticalScroll(id="launcher-form", can_focus=False):
                for section, specs in self.draft.sections():
                    with Vertical(id=f"section-{section or 'top'}", classes="section"):
                        yield Static(TITLES[section], classes="section-title")
                        yield from (Field(s, self.draft.value(s)) for s in specs)
            yield AugmentationPreview(id="preview")
        yield Static("", id="launcher-help")
        yield Static("", id="launcher-status")
        yield self._pace
        yield AppFooter()  # fits 80 columns; drawn before the browser page is clicked

    async def on_mount(self) -> None:
        """The rows exist from compose on, so no key ever finds the form empty; actions wait for this."""
        await self._sync()
        self._focus_first()
        self._ready = True
        self.refresh_bindings()
        if isinstance(self.app, KeysInOrder):
            self.app.screen_ready()  # the keys typed while the form was made go to its rows now, in order

    @property
    def takes_keys(self) -> bool:
        """Whether the form is ready: until then the app holds the keys typed for it (KeysInOrder)."""
        return self._ready

    def _focus_first(self) -> None:
        first = next(iter(self.query(Field)), None)
        if first is not None:
            self.set_focus(first)  # now: focus() would do it later, after a down typed fast had moved it on
        self.call_after_refresh(self.query_one("#launcher-form").scroll_home, animate=False)  # titles in view

    # -- keeping the form in step with the draft ---------------------------------------------------

    async def _sync(self) -> None:
        """Rebuild the tables whose fields changed, show every value and the problem, refresh the preview."""
        focused = self.focused.spec.key if isinstance(self.focused, Field) else None
        for section, specs in self.draft.sections():
            box = self.query_one(f"#section-{section or 'top'}", Vertical)
            fields = list(box.query_children(Field))
            if [f.spec for f in fields] != specs:
                if self.focused is not None and box in self.focused.ancestors:
                    self.set_focus(None)  # else removing the row focuses another and scrolls to it, after ours
                await box.remove_children(fields)
                await box.mount_all([Field(s, self.draft.value(s)) for s in specs])
        self._show_problem(self.draft.problem)
        if focused is not None and not (isinstance(self.focused, Field) and self.focused.spec.key == focused):
            self._focus_key(focused)  # its row was rebuilt: focus the new one (or the nearest left)
        self.call_after_refresh(self._scroll_to_focused)  # rows came, went or grew above it
        self._show_title()
        if isinstance(self.focused, Field):
            self._show_help(self.focused.spec)  # a sweep begun or ended changes what enter and w do
        exp = self.draft.experiment
        if exp is not None and exp.to_dict() != self._previewed:
            self._previewed = exp.to_dict()
            self.query_one(AugmentationPreview).show_experiment(self._previewed)

    def _focus_key(self, key: str) -> None:
        """Focus the field for ``key``, else the one for its table or entry (augment.blur.p → augment.blur)."""
        fields = list(self.query(Field))
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            prefix = ".".join(parts[:n])
            found = [f for f in fields if f.spec.key == prefix]
            found = found or [f for f in fields if f.spec.key.startswith(f"{prefix}.")]
            if found:
                found[0].focus(scroll_visible=False)  # not yet laid out: _scroll_to_focused scrolls after the layout
                return

    def _show_title(self) -> None:
        origin = f"from {self._relative(self.draft.path)}" if self.draft.path else "from the defaults"
        changed = " · changed" if self.draft.dirty else ""
        what = "New sweep" if self.draft.sweep.active else "New run"
        self.query_one("#launcher-title", Static).update(f"{what} · {origin}{changed} · o opens another file")

    def _show_problem(self, problem: Problem | None) -> None:
        """Show ``problem`` under every row it involves (both rows of a rule between two keys) and at the bottom;
        the other rows show none. The notes follow the draft as applied."""
        notes = field_notes(self.draft.experiment)
        keys = problem.keys if problem is not None else ()
        for field in self.query(Field):
            k = field.spec.key
            error = None
            if problem is not None and k in keys:
                error = problem.reason if k == keys[0] else f"{keys[0]}: {problem.reason}"
            swept = self.draft.sweep.texts.get(k)
            field.show(self.draft.value(field.spec), error, tuple(notes.get(k, ())), swept,
                       len(self.draft.sweep.values.get(k, ())))
        status = self.query_one("#launcher-status", Static)
        if problem is None and self.draft.sweep.active:
            status.update(Text(self.sweep_status(), style="green"))
        elif problem is None:
            status.update(Text(f"✓ valid · ctrl+s saves to {self._relative(self.experiments_dir)}/ · "
                               f"ctrl+l launches into {self._relative(self.runs_root)}/", style="green"))
        else:
            status.update(Text(f"✗ {problem.text()}", style="bold red"))

    def on_field_typed(self, message: Field.Typed) -> None:
        """Check the value as it is typed: its row shows ✓ or why not, and a rule it breaks shows on both rows."""
        if message.text is None:  # the editor closed: back to the draft as it is
            self._show_problem(self.draft.problem)
            return
        if message.field.sweeping:
            problem = self.draft.try_sweep(message.field.spec, message.text)
        else:
            problem = self.draft.try_value(message.field.spec, message.text)
        mine = problem is not None and message.field.spec.key in problem.keys
        message.field.check_typed(problem.reason if mine and problem is not None else None)
        self._show_problem(problem)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        if isinstance(event.widget, Field):
            self._show_help(event.widget.spec)
            self.call_after_refresh(self._scroll_to_focused)

    def _scroll_to_focused(self) -> None:
        """Scroll the form to the focused row, its problem and notes included, once the layout is done."""
        focused = self.focused
        row = focused.parent if isinstance(focused, FieldEditor) else focused
        if isinstance(row, Field) and row.is_attached:
            self.query_one("#launcher-form", VerticalScroll).scroll_to_widget(row, animate=False)

    def _show_help(self, spec: FieldSpec) -> None:
        p = spec.param
        if spec.kind == "augmentation":
            how = "space switches it on or off; its parameters show while it is on"
        elif spec.kind == "choice":
            how = "enter picks one of: " + ", ".join(spec.choices)
        elif spec.kind == "flag":
            how = "space switches it: true or false"
        elif spec.key == "name":
            name = self.draft.get("name")
            follows = " (auto: modality-objective)" if name == self.draft.auto_name() else ""
            how = f"enter edits: run ids read <date>-{name}-<tag>{follows}"
        else:
            how = f"enter edits: {p.allowed()} (default {value_text(spec, p.default)})"
        how = self.sweep_how(spec, how)
        self.query_one("#launcher-help", Static).update(Text.assemble((spec.key, "bold"), f"  {p.help}\n{how}"))

    @staticmethod
    def _relative(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    # -- editing -----------------------------------------------------------------------------------

    async def on_field_activated(self, message: Field.Activated) -> None:
        spec = message.field.spec
        if spec.kind == "augmentation":
            self.draft.toggle(spec.key.split(".", 1)[1])
        elif spec.kind == "flag":
            self.draft.set(spec.key, not self.draft.value(spec))
        elif spec.kind == "choice":
            current = self.draft.value(spec)

            async def chosen(name: str | None) -> None:
                if name is not None and name != current:
                    self.draft.set(spec.key, name)
                    await self._sync()

            try:
                await self.app.push_screen(ChooseScreen(f"{spec.key}: {spec.param.help}", list(spec.choices), current),
                                           chosen)
            finally:
                for key in message.field.release_held():  # typed fast after enter: they were meant for the list
                    self.app.post_message(events.Key(key.key, key.character))
            return
        else:
            message.field.edit()  # values are edited in place (Field opens its editor itself on enter)
            return
        await self._sync()

    async def on_field_submitted(self, message: Field.Submitted) -> None:
        if message.sweep:
            try:
                self.draft.set_sweep(message.field.spec.key, message.text)
            except (ValueError, ConfigError) as e:  # not a list or range: said on the row as it was typed, too
                self.notify(f"{message.field.spec.key}: {e}", severity="error")
        else:
            self.draft.set(message.field.spec.key, parse_entry(message.field.spec.param, message.text))
        await self._sync()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._ready  # keys that come before the form is filled in are dropped

    def _refused(self, what: str) -> bool:
        """Whether the draft is invalid: then say why ``what`` cannot be done and go to the row concerned."""
        problem = self.draft.problem
        if problem is None:
            return False
        self.notify(f"not {what}: {problem.text()}", severity="error")
        if problem.keys:
            self._focus_key(problem.keys[0])
            self.call_after_refresh(self._scroll_to_focused)
        return True

    # -- files -------------------------------------------------------------------------------------

    def action_open(self) -> None:
        files = sorted(p.name for p in self.experiments_dir.glob("*.toml")) if self.experiments_dir.is_dir() else []
        title = f"Start from the defaults or a file in {self._relative(self.experiments_dir)}/"
        defaults = f"(defaults of {self.draft.modality})"

        async def chosen(choice: str | None) -> None:
            if choice is not None:
                await self._start_from(None if choice == defaults else self.experiments_dir / choice)

        self._unless_unsaved(lambda: self.app.push_screen(ChooseScreen(title, [defaults, *files]), chosen))

    async def _start_from(self, path: Path | None) -> None:
        """Edit the file at ``path``, or the defaults of the current modality and objective."""
        try:
            draft = self.draft.fresh() if path is None else Draft.load(path)
        except ConfigError as e:
            self.notify(str(e), severity="error")
            return
        self.draft = draft
        await self._sync()
        self._focus_first()

    def _default_file_name(self) -> str:
        path = self.draft.path
        if path is not None and path.parent.resolve() == self.experiments_dir.resolve():
            return path.name
        return f"{self.draft.auto_name()}.toml"

    def action_save(self, typed: str | None = None) -> None:
        if self._refused("saved"):
            return
        title = f"Save the experiment as (in {self._relative(self.experiments_dir)}/)"
        self.app.push_screen(PromptScreen(title, typed or self._default_file_name(), "name.toml"), self._save_as)

    def _save_as(self, typed: str | None) -> None:
        if typed is None:
            return
        try:
            path = self.experiments_dir / experiment_file_name(typed)
        except ValueError as e:
            self.notify(str(e), severity="error")
            self.action_save(typed)
            return
        if not path.exists():
            self._write(path)
            return
        question = f"{self._relative(path)} exists.\nOverwrite it? (its comments are kept)"
        self.app.push_screen(ConfirmScreen(question), lambda yes: self._write(path) if yes else None)

    def _write(self, path: Path) -> None:
        if self._refused("saved"):  # an edit applied while the file name was asked for
            return
        try:
            kept = write_experiment(path, self.draft)
        except OSError as e:
            self.notify(f"could not save {path}: {e.strerror or e}", severity="error")
            return
        self.draft.saved_as(path)
        where = self._relative(path)
        if kept:
            how = f"`sslterm {'sweep' if self.draft.sweep.active else 'run'} {where}` trains it"
            self.notify(f"saved {where}; {how}")
        else:
            self.notify(f"saved {where}, written anew: its old text could not be edited in place", severity="warning")
        self._show_title()

    # -- launching, leaving ------------------------------------------------------------------------

    def action_launch(self) -> None:
        exp = self.draft.experiment
        if self._refused("launched") or exp is None:
            return
        if self.draft.sweep.active:
            self.ask_sweep()
            return
        question = (f"Launch {exp.name}: {exp.objective.name} on {exp.data.dataset} ({exp.data.modality}),\n"
                    f"{exp.train.steps} steps on device {exp.train.device}, in {self._relative(self.runs_root)}/?")
        self.app.push_screen(ConfirmScreen(question), self._launch)

    def _launch(self, yes: bool | None) -> None:
        exp = self.draft.experiment
        if not yes or exp is None:
            return
        source = self._relative(self.draft.path) if self.draft.path and not self.draft.dirty else "the launcher"
        try:
            run, proc = launch(exp, self.runs_root, source=source)
        except OSError as e:
            self.notify(f"cannot create a run in {self.runs_root}/: {e.strerror or e}", severity="error")
            return
        _reap(proc)
        self.dismiss()
        self.app.post_message(OpenRun(run))

    def _unless_unsaved(self, then: Callable[[], object]) -> None:
        """Run ``then`` at once, or after a yes when the draft has changes that were not saved."""
        if not self.draft.dirty:
            then()
            return
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen("The changes to this experiment are not saved.\nDiscard them?"), answered)

    def action_back(self) -> None:
        self._unless_unsaved(self.dismiss)

    def action_toggle_preview(self) -> None:
        preview = self.query_one(AugmentationPreview)
        preview.display = not preview.display

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen("Launcher", keys_help(self, self.HELP_NOTES)))
