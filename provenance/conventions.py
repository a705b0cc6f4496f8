"""How an orchestrator lays provenance out in MLMD, and how components map to categories.

A :class:`Convention` says which context types hold pipelines, runs and nodes, and where a
component's name lives (TFX: the execution type's class name; Kubeflow Pipelines v2: the
``task_name`` property). A :class:`Mapping` adds the category rules (first match wins, user rules
before the preset's) and the execution property that holds cost. Users extend both with a TOML
file::

    convention = "kfp"            # optional; detected from the store's context types
    cost_property = "cpu_hours"   # optional; otherwise cost is duration in seconds

    [categories]                  # glob on the component or the full type name -> category
    "my-trainer" = "train"
    "*Scorer" = "other"

    [deploy]                      # optional: what counts as deploying a model
    tasks = ["deploy-model"]      # globs on the task/component: its COMPLETE execution deploys
    pushed_property = "deployed"  # or/and: artifact property set to 1 on what was deployed
    aliases = ["champion"]        # MLflow: registry aliases that mark a deployed model version

With ``deploy.tasks``, the ``deploy`` category is exactly the executions those globs name (the
presets' deploy rules no longer apply), and a COMPLETE one counts as a push when none of its
outputs carries the pushed property. The rule is stored with the source and used by every
graphlet build of the store (:meth:`mlprov.graphlets.rules.GraphletRules.for_store`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from mlprov.provenance.errors import MappingError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAPPING_KEYS = ("convention", "cost_property", "categories", "deploy")
DEPLOY_KEYS = ("tasks", "pushed_property", "aliases")
CATEGORIES = (
    "ingest",
    "data_validation",
    "transform",
    "train",
    "model_validation",
    "deploy",
    "other",
)

# study.md, "Operator categories": TFX components by class name.
TFX_RULES: tuple[tuple[str, str], ...] = (
    ("*ExampleGen", "ingest"),
    ("Importer", "ingest"),
    ("StatisticsGen", "data_validation"),
    ("SchemaGen", "data_validation"),
    ("ImportSchemaGen", "data_validation"),
    ("ExampleValidator", "data_validation"),
    ("Transform", "transform"),
    ("Trainer", "train"),
    ("Tuner", "train"),
    ("Evaluator", "model_validation"),
    ("ModelValidator", "model_validation"),
    ("InfraValidator", "model_validation"),
    ("Pusher", "deploy"),
)

# Words of free-text task names (Kubeflow, OpenLineage), after their source's own.
_TRAIN_WORDS: tuple[tuple[str, str], ...] = (
    ("*preprocess*", "transform"),
    ("*transform*", "transform"),
    ("*feature*", "transform"),
    ("*tun*", "train"),
    ("*train*", "train"),
    ("*eval*", "model_validation"),
)
_DEPLOY_WORDS: tuple[tuple[str, str], ...] = (
    ("*deploy*", "deploy"),
    ("*push*", "deploy"),
    ("*serve*", "deploy"),
)

# Kubeflow task names are free text: match common words (user rules come first).
KFP_RULES: tuple[tuple[str, str], ...] = (
    *TFX_RULES,
    ("*ingest*", "ingest"),
    ("*import*", "ingest"),
    ("*load*data*", "ingest"),
    ("*valid*data*", "data_validation"),
    ("*data*valid*", "data_validation"),
    ("*statistic*", "data_validation"),
    ("*schema*", "data_validation"),
    *_TRAIN_WORDS,
    ("*valid*", "model_validation"),
    *_DEPLOY_WORDS,
)


# OpenLineage job names are free text too (Airflow: "dag.task", the task part is the
# component): the words of a small extract -> validate -> train -> evaluate -> deploy DAG.
OPENLINEAGE_RULES: tuple[tuple[str, str], ...] = (
    ("*extract*", "ingest"),
    ("*ingest*", "ingest"),
    ("*import*", "ingest"),
    ("*fetch*", "ingest"),
    ("*model*valid*", "model_validation"),
    ("*valid*model*", "model_validation"),
    ("*valid*", "data_validation"),
    ("*statistic*", "data_validation"),
    ("*schema*", "data_validation"),
    *_TRAIN_WORDS,
    *_DEPLOY_WORDS,
)


# MLflow runs are named freely: the Kubeflow words, then the reader's run types (provenance.
# mlflow_store): a registration of a model version deploys, a run that logged a model trains.
MLFLOW_RULES: tuple[tuple[str, str], ...] = (
    ("mlflow.ModelRegistration", "deploy"),
    *KFP_RULES,
    ("mlflow.ModelRun", "train"),
)


@dataclass(frozen=True)
class DeployRule:
    """The user's rule for what deploys a model, for sources without TFX's push record.

    Attributes:
        tasks: globs on the component (KFP task name) or type name; a COMPLETE execution of
            one of them deploys. Given, they alone make up the ``deploy`` category.
        pushed_property: artifact property a deploy execution sets to 1 on what it deployed
            (TFX: ``pushed``).
        aliases: MLflow registry aliases that mark a model version deployed (None: the
            reader's default, :data:`mlprov.provenance.mlflow_store.DEPLOY_ALIASES`).
    """

    tasks: tuple[str, ...] = ()
    pushed_property: str | None = None
    aliases: tuple[str, ...] | None = None

    def to_json(self) -> str:
        return json.dumps({"tasks": list(self.tasks), "pushed_property": self.pushed_property})


@dataclass(frozen=True)
class Convention:
    """Where an orchestrator keeps pipelines, runs, nodes and component names in MLMD.

    ``deploy`` is the convention's own deploy rule, for sources that record no push at all
    (OpenLineage): used when the mapping has no ``[deploy]`` table.
    """

    name: str
    pipeline_context_types: tuple[str, ...]
    run_context_types: tuple[str, ...]
    node_context_types: tuple[str, ...]
    component_property: str | None  # execution property naming the component, if any
    rules: tuple[tuple[str, str], ...]
    deploy: DeployRule | None = None


CONVENTIONS = {
    "tfx": Convention("tfx", ("pipeline",), ("pipeline_run",), ("node",), None, TFX_RULES),
    "tfx_legacy": Convention(
        "tfx_legacy", ("pipeline",), ("run",), ("component_run",), None, TFX_RULES
    ),
    "kfp": Convention(
        "kfp", ("system.Pipeline",), ("system.PipelineRun",), (), "task_name", KFP_RULES
    ),
    # provenance.openlineage stages these contexts; a COMPLETE deploy-like task deploys
    "openlineage": Convention(
        "openlineage",
        ("openlineage.Pipeline",),
        ("openlineage.PipelineRun",),
        ("openlineage.Job",),
        "task",
        OPENLINEAGE_RULES,
        DeployRule(tuple(glob for glob, _ in _DEPLOY_WORDS)),
    ),
    # provenance.mlflow_store stages these contexts and its registrations' pushed artifacts
    "mlflow": Convention(
        "mlflow", ("mlflow.Experiment",), ("mlflow.PipelineRun",), (), "component", MLFLOW_RULES
    ),
}


def detect_convention(context_types: Iterable[str]) -> str:
    """Name the convention a store follows, from the context type names it holds."""
    types = set(context_types)
    if any(t.startswith("openlineage.") for t in types):
        return "openlineage"
    if "mlflow.Experiment" in types:
        return "mlflow"
    if types & {"system.Pipeline", "system.PipelineRun"}:
        return "kfp"
    if types & {"run", "component_run"} and not types & {"pipeline_run", "node"}:
        return "tfx_legacy"
    return "tfx"


def _matches(pattern: str, component: str, type_name: str) -> bool:
    pattern = pattern.lower()
    return fnmatch.fnmatchcase(component.lower(), pattern) or fnmatch.fnmatchcase(
        type_name.lower(), pattern
    )


@dataclass(frozen=True)
class Mapping:
    """Category rules, the cost property, the deploy rule and an optional forced convention."""

    rules: tuple[tuple[str, str], ...] = ()
    cost_property: str | None = None
    convention: str | None = None
    origin: str = "defaults"
    deploy: DeployRule | None = None

    def categorize(self, component: str, type_name: str, convention: Convention) -> str:
        """Category of a component: the deploy tasks, user rules, then the convention's, else
        ``other``."""
        deploy = self.deploy_rule(convention)
        tasks = deploy.tasks if deploy else ()
        if any(_matches(p, component, type_name) for p in tasks):
            return "deploy"
        for pattern, category in (*self.rules, *convention.rules):
            if _matches(pattern, component, type_name):
                return "other" if tasks and category == "deploy" else category
        return "other"

    def digest(self, convention: Convention) -> str:
        """A hash of everything that decides categories and cost, to notice a changed mapping."""
        deploy = self.deploy_rule(convention)
        tasks = list(deploy.tasks) if deploy else []
        body = json.dumps(
            [self.rules, self.cost_property, convention.name, *([tasks] if tasks else [])]
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def deploy_rule(self, convention: Convention) -> DeployRule | None:
        """The mapping's ``[deploy]`` rule, else the convention's own (if it has one)."""
        return self.deploy or convention.deploy

    def with_convention(self, name: str) -> Mapping:
        return replace(self, convention=name)


def load_mapping(path: str | Path | None) -> Mapping:
    """Read a mapping TOML file; ``None`` gives the defaults.

    Raises:
        MappingError: unreadable file, unknown key, category or convention.
    """
    if path is None:
        return Mapping()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise MappingError(f"mapping file {path} does not exist") from err
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise MappingError(f"cannot read mapping file {path}: {err}") from err
    for key in data:
        if key not in MAPPING_KEYS:
            raise MappingError(
                f"{path}: unknown key {key!r}; valid keys are "
                f"{', '.join(MAPPING_KEYS)}.{did_you_mean(key, MAPPING_KEYS)}"
            )
    for key, kind, shape in (
        ("convention", str, 'a name, e.g. convention = "kfp"'),
        ("cost_property", str, 'a property name, e.g. cost_property = "cpu_hours"'),
        ("categories", dict, 'a table, e.g. [categories] then "Trainer" = "train"'),
    ):
        if key in data and not isinstance(data[key], kind):
            raise MappingError(f"{path}: {key} must be {shape}; got {data[key]!r}")
    convention = data.get("convention")
    if convention is not None and convention not in CONVENTIONS:
        raise MappingError(
            f"{path}: unknown convention {convention!r}; valid conventions are "
            f"{', '.join(CONVENTIONS)}.{did_you_mean(str(convention), CONVENTIONS)}"
        )
    rules = []
    for pattern, category in data.get("categories", {}).items():
        if not isinstance(category, str) or category not in CATEGORIES:
            raise MappingError(
                f"{path}: component {pattern!r} maps to unknown category {category!r}; valid "
                f"categories are {', '.join(CATEGORIES)}.{did_you_mean(str(category), CATEGORIES)}"
            )
        rules.append((str(pattern), str(category)))
    return Mapping(
        tuple(rules), data.get("cost_property"), convention, str(path), _deploy_rule(path, data)
    )


def _deploy_rule(path: Path, data: dict[str, object]) -> DeployRule | None:
    deploy = data.get("deploy")
    if deploy is None:
        return None
    if not isinstance(deploy, dict):
        raise MappingError(f"{path}: deploy must be a table ([deploy]), got {deploy!r}")
    for key in deploy:
        if key not in DEPLOY_KEYS:
            raise MappingError(
                f"{path}: unknown key {key!r} in [deploy]; valid keys are "
                f"{', '.join(DEPLOY_KEYS)}.{did_you_mean(key, DEPLOY_KEYS)}"
            )
    tasks = deploy.get("tasks", [])
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, str) and t for t in tasks):
        raise MappingError(
            f"{path}: deploy.tasks must be a list of task or component globs, got {tasks!r}"
        )
    pushed = deploy.get("pushed_property")
    if pushed is not None and not (isinstance(pushed, str) and pushed):
        raise MappingError(
            f"{path}: deploy.pushed_property must be an artifact property name, got {pushed!r}"
        )
    aliases = deploy.get("aliases")
    if aliases is not None and not (
        isinstance(aliases, list) and all(isinstance(a, str) and a for a in aliases)
    ):
        raise MappingError(
            f"{path}: deploy.aliases must be a list of MLflow model aliases, e.g. "
            f'aliases = ["champion"], got {aliases!r}'
        )
    if not tasks and pushed is None and aliases is None:
        raise MappingError(
            f"{path}: [deploy] names neither tasks nor pushed_property; add "
            'tasks = ["deploy-model"] (a glob on your deploy task) or remove the table'
        )
    return DeployRule(tuple(tasks), pushed, None if aliases is None else tuple(aliases))
