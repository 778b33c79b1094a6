"""The launcher's sweep mode, as a base of its screen: w sweeps a field, the count and time, launching a sweep."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static

from sslterm.config import ConfigError
from sslterm.sweep.control import launch_sweep
from sslterm.tui.draft import Draft, FieldSpec
from sslterm.tui.screens.dialogs import ConfirmScreen
from sslterm.tui.sweep_pace import SweepPace
from sslterm.tui.sweep_values import NOT_SWEPT, PARALLEL, PLAN_PARAMS, SEEDS
from sslterm.tui.widgets.field import Field, value_text


class SweepLauncher(Screen[None]):
    """What the launcher does in sweep mode; the form is :class:`~sslterm.tui.screens.launcher.LauncherScreen`."""

    draft: Draft
    runs_root: Path
    _pace: SweepPace

    async def _sync(self) -> None:
        raise NotImplementedError

    def _refused(self, what: str) -> bool:
        raise NotImplementedError

    def _relative(self, path: Path) -> str:
        raise NotImplementedError

    def _show_help(self, spec: FieldSpec) -> None:
        raise NotImplementedError

    def sweep_status(self) -> str:
        """The status line while sweeping: how many runs and about how long (read in the background once)."""
        self._pace.want(self.draft.experiment)
        count, time = self._pace.summary(self.draft)
        return f"✓ {count}" + (f" · {time}" if time else "")

    def sweep_how(self, spec: FieldSpec, how: str) -> str:
        """The help line's second half for ``spec``'s row: ``how`` it is edited, and what w does there."""
        if spec.key in self.draft.sweep.values:
            return "enter edits the values (a list or a range) · w: back to one value"
        if spec.kind == "augmentation" or spec.key in (*PLAN_PARAMS, *NOT_SWEPT):
            return how
        return how.replace("enter edits:", "enter edits, w sweeps:", 1)

    def on_sweep_pace_read(self, message: SweepPace.Read) -> None:
        """The pace of recent runs was read: show the sweep's time with it."""
        if self.draft.sweep.active and self.draft.problem is None:
            self.query_one("#launcher-status", Static).update(Text(self.sweep_status(), style="green"))

    async def action_sweep(self) -> None:
        """Sweep the focused field over a list or range of values (typed in its editor), or end its sweep."""
        field = self.focused
        if not isinstance(field, Field):
            return
        key = field.spec.key
        if key in self.draft.sweep.values:
            self.draft.set_sweep(key, "")
            await self._sync()
            self.notify(f"{key} is one value again: {value_text(field.spec, self.draft.value(field.spec))}")
        elif field.spec.kind == "augmentation":
            self.notify("an augmentation is on or off: sweep one of its parameters", severity="warning")
        elif key == SEEDS:
            self.notify("seeds is how many runs each setting gets: type a number", severity="warning")
        elif key == PARALLEL:
            self.notify("parallel is how many runs train at once: type a number", severity="warning")
        else:
            field.edit(sweep=True)
            self.query_one("#launcher-help", Static).update(
                f"{key}  a list: 0.1, 0.2, 0.5 · a range: 1e-4..1e-2 log 5, 1..8 step 2\n"
                f"each value: {field.spec.param.allowed()} · enter applies, esc cancels")

    def ask_sweep(self) -> None:
        """Ask before launching the sweep: its runs, their steps and device, the time it takes."""
        exp = self.draft.experiment
        if exp is None:
            return
        count, time = self._pace.summary(self.draft)
        question = (f"Sweep {exp.name}: {count},\n{exp.train.steps} steps each on device {exp.train.device}, in "
                    f"{self._relative(self.runs_root)}/;\n{time or 'the time is not known yet'}. Start it?")
        self.app.push_screen(ConfirmScreen(question), self._launch_sweep)

    def _launch_sweep(self, yes: bool | None) -> None:
        """Check every trial, write the sweep and start its scheduler (as `sslterm sweep`); back to the runs."""
        if not yes or self._refused("launched"):
            return
        source = str(self.draft.path.resolve()) if self.draft.path and not self.draft.dirty else "the launcher"
        try:
            sweep, n = launch_sweep(self.runs_root, self.draft.raw, self.draft.sweep.spec(), source,
                                    str(self.draft.get("name") or self.draft.auto_name()), self.draft.sweep.parallel)
        except ConfigError as e:  # a trial the loader refuses (a combination of swept values): the trial and key
            self.notify(f"not launched: {e}", severity="error")
            return
        except OSError as e:
            self.notify(f"cannot create a sweep in {self.runs_root}/: {e.strerror or e}", severity="error")
            return
        self.dismiss()
        self.app.notify(f"sweep {sweep.spec().get('name', sweep.id)}: {n} runs queued; w shows the queue")
