"""Search that learns (``--search optuna``): TPE proposes each trial from the finished ones, the median pruner
stops the runs that trail; the study is a journal file in the sweep directory.

``<sweep>/optuna.journal`` is Optuna's ``JournalStorage`` with a file backend: an append-only log written
under a file lock, fit for a shared filesystem, replayed by whoever opens it (the scheduler after a restart,
``optuna-dashboard``, a notebook: ``optuna.load_study(study_name="sweep", storage=...)``). Optuna is imported
only inside this module's functions, and only by the scheduler of a sweep that searches; without it,
``sslterm sweep --search optuna`` is refused in one line before anything is made (:func:`missing`).
"""

from __future__ import annotations

import importlib.util
import math
from typing import TYPE_CHECKING, Any

from sslterm.store import Run
from sslterm.store.summary import finite
from sslterm.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

    from sslterm.sweep.store import Sweep

JOURNAL = "optuna.journal"
STUDY = "sweep"
COMPLETE, PRUNE, FAIL = "complete", "pruned", "fail"


def missing() -> str | None:
    """Why a search that learns cannot run here (one line), or None when optuna is installed."""
    if importlib.util.find_spec("optuna") is None:
        return "--search optuna needs optuna: pip install 'sslterm[sweep]'"
    return None


def final_value(run: Run, metric: str) -> float | None:
    """The run's final ``metric``: the last finite value it logged (or its evaluation's ``eval.*`` result)."""
    from sslterm.store.summary import summarize

    s = summarize(run)
    return s.final.get(metric, s.evaluation.get(metric))


def metrics_of(run: Run) -> list[str]:
    """The metric names the run has logged, for the line that says which one is missing."""
    from sslterm.store.summary import summarize

    s = summarize(run)
    return sorted({*s.final, *s.evaluation})


def online(records: list[dict[str, Any]], metric: str) -> list[tuple[int, float]]:
    """``(step, value)`` of each metrics record that carries a finite ``metric``, in the order logged."""
    out = []
    for rec in records:
        step, value = rec.get("step"), finite(rec.get(metric))
        if isinstance(step, int) and not isinstance(step, bool) and value is not None:
            out.append((step, value))
    return out


def startup_trials(trials: int) -> int:
    """How many trials TPE draws at random before it models the others: a third of them, between 2 and 10."""
    return max(2, min(10, trials // 3))


def warmup(spec: SweepSpec, train_steps: int) -> int:
    """The step before which no trial is pruned: the spec's, else a quarter of the trials' ``train.steps``."""
    return spec.prune_warmup if spec.prune_warmup is not None else train_steps // 4


class Search:
    """A sweep's Optuna study as the scheduler uses it: ask for a setting, report a running trial's online
    metric (and hear whether to prune it), tell how a trial ended. Every call goes to the journal at once."""

    def __init__(self, sweep: Sweep, spec: SweepSpec, train_steps: int) -> None:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
        if spec.prune:
            pruner = optuna.pruners.MedianPruner(n_startup_trials=spec.prune_startup,
                                                 n_warmup_steps=warmup(spec, train_steps))
        self.spec = spec
        self.study = optuna.create_study(
            storage=JournalStorage(JournalFileBackend(str(sweep.path / JOURNAL))), study_name=STUDY,
            sampler=optuna.samplers.TPESampler(seed=spec.sample_seed, n_startup_trials=startup_trials(spec.trials)),
            pruner=pruner, direction="minimize" if spec.direction == "minimize" else "maximize", load_if_exists=True)
        self.space = distributions(spec)

    def ask(self) -> tuple[int, dict[str, Any]]:
        """A new Optuna trial: its number and the setting to train."""
        trial = self.study.ask(self.space)
        return trial.number, {k: trial.params[k] for k in self.spec.swept_keys()}

    def tell(self, number: int, how: str, value: float | None = None) -> None:
        """Record how trial ``number`` ended (``complete`` with its value, ``pruned`` or ``fail``); a trial
        already told (a scheduler killed after telling, before saving its trial list) is left as it is."""
        from optuna.trial import TrialState

        state = {COMPLETE: TrialState.COMPLETE, PRUNE: TrialState.PRUNED, FAIL: TrialState.FAIL}[how]
        self.study.tell(number, value if how == COMPLETE else None, state=state, skip_if_finished=True)

    def report(self, number: int, points: list[tuple[int, float]]) -> bool:
        """Report the points of trial ``number`` not reported yet; whether the pruner says to stop it now."""
        import optuna

        frozen = self._frozen(number)
        if frozen is None or frozen.state.is_finished():
            return False
        last = max(frozen.intermediate_values, default=-1)
        new = [(s, v) for s, v in points if s > last and math.isfinite(v)]
        if not new:
            return False
        trial = optuna.Trial(self.study, frozen._trial_id)
        for step, value in new:
            trial.report(value, step)
            last = step
        return trial.should_prune()

    def fail_orphans(self, known: set[int]) -> list[int]:
        """Mark failed each running Optuna trial that no sweep trial names (asked for by a scheduler killed
        before it saved the trial list): it never trained. Their numbers."""
        from optuna.trial import TrialState

        lost = [t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if t.number not in known]
        for number in lost:
            self.tell(number, FAIL)
        return lost

    def _frozen(self, number: int) -> optuna.trial.FrozenTrial | None:
        return next((t for t in self.study.get_trials(deepcopy=False) if t.number == number), None)


def distributions(spec: SweepSpec) -> dict[str, Any]:
    """The search space as Optuna distributions: a grid axis or ``choice`` is categorical, ``uniform`` and
    ``loguniform`` are floats (log-scaled for the second), ``int`` is an integer range with both ends."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space: dict[str, Any] = {k: CategoricalDistribution(list(v)) for k, v in spec.grid}
    for d in spec.random:
        if d.kind == "choice":
            space[d.key] = CategoricalDistribution(list(d.args))
        elif d.kind == "int":
            space[d.key] = IntDistribution(int(d.args[0]), int(d.args[1]))
        else:
            space[d.key] = FloatDistribution(float(d.args[0]), float(d.args[1]), log=d.kind == "loguniform")
    return space
