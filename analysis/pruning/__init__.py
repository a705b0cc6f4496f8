"""Simulate policies that skip training runs unlikely to push, and what they would have saved.

At each graphlet's decision point (just before its trainer starts) a policy decides to train or
to skip. Skipping saves the trainer and everything downstream of it (evaluation, validation,
push); the upstream work has already run. Policies are scored on the graphlets of a test period
(decisions at or after ``train_until``) against the recorded outcomes:

* ``none``: never skip (the reference: saves 0).
* ``oracle``: skip exactly the graphlets that did not push (saves all avoidable waste).
* ``random``: skip at random at the learned policy's skip rate (the oracle's without it).
* ``k-nonpush``: skip after ``k`` consecutive known non-pushes of the pipeline.
* ``no-new-span``: skip when the window holds no span the previous graphlet lacked.
* ``learned``: a scikit-learn classifier of "will not push" trained on graphlets whose outcome
  was known before the test period (or before each month, with monthly retraining), skipping
  when its probability exceeds a threshold chosen on the last quarter of the training period.

Metrics (see :class:`PruningResult`): share of avoidable wasted compute saved, share of all
wasted compute and of total compute saved (in the test period), pushes kept, and deployment
cadence: pushes per pipeline-week, longest gap between pushes, and the time-averaged age of the
serving model.

The simulation treats the recorded history as fixed: skipping a run would have changed later
outcomes (baselines the Evaluator compares against, warm starts), which it cannot replay.

The modules, in the order data flows: :mod:`~mlprov.analysis.pruning.features` (what is known at
each decision, from ``features.sql``), :mod:`~mlprov.analysis.pruning.data` (everything read from
the store), :mod:`~mlprov.analysis.pruning.config` (what to simulate),
:mod:`~mlprov.analysis.pruning.policies` (the registry of policies),
:mod:`~mlprov.analysis.pruning.learner` (the learned policy), :mod:`~mlprov.analysis.pruning.score`
and :mod:`~mlprov.analysis.pruning.cadence` (what a skip set saves and costs),
:mod:`~mlprov.analysis.pruning.simulate` (the run) and :mod:`~mlprov.analysis.pruning.result`.

Example:
    >>> list(POLICIES)
    ['none', 'oracle', 'random', 'k-nonpush', 'no-new-span', 'learned']
"""

from mlprov.analysis.errors import PruningError
from mlprov.analysis.pruning.config import PruningConfig, when
from mlprov.analysis.pruning.data import PruningData, load_pruning_data
from mlprov.analysis.pruning.policies import POLICIES
from mlprov.analysis.pruning.result import PUSHES_KEPT_TARGET, Headline, PruningResult
from mlprov.analysis.pruning.simulate import simulate, simulate_pruning

__all__ = [
    "POLICIES",
    "PUSHES_KEPT_TARGET",
    "Headline",
    "PruningConfig",
    "PruningData",
    "PruningError",
    "PruningResult",
    "load_pruning_data",
    "simulate",
    "simulate_pruning",
    "when",
]
