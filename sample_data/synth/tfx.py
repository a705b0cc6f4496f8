"""The TFX 1.x vocabulary the corpus generator writes: type names, node ids, keys, properties.

Everything here is a fixed, ordered table so that a name becomes a small integer code in the
simulation's columnar log and back again when a backend writes the store. The order of
:data:`TYPES` is the order in which types are registered, so it fixes every type id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from mlprov.provenance.mlmd_codes import PropertyType as DataType
from mlprov.provenance.mlmd_codes import TypeKind as Kind

TFX_VERSION = "1.16.0"


@dataclass(frozen=True)
class TypeSpec:
    """One MLMD type as TFX registers it.

    Attributes:
        kind: execution, artifact or context type.
        name: the type name (a component class path for executions).
        properties: declared (non-custom) properties with their data types.
        base_type: MLMD system base type name (``mlmd.Dataset``...) or empty.
    """

    kind: Kind
    name: str
    properties: tuple[tuple[str, DataType], ...] = ()
    base_type: str = ""


_SPAN = (("span", DataType.INT), ("split_names", DataType.STRING))
_C = "tfx.components."

#: Context types, artifact types, execution types, in registration order.
TYPES: tuple[TypeSpec, ...] = (
    TypeSpec(Kind.CONTEXT, "pipeline"),
    TypeSpec(Kind.CONTEXT, "pipeline_run"),
    TypeSpec(Kind.CONTEXT, "node"),
    TypeSpec(
        Kind.ARTIFACT,
        "Examples",
        (("span", DataType.INT), ("version", DataType.INT), ("split_names", DataType.STRING)),
        "mlmd.Dataset",
    ),
    TypeSpec(Kind.ARTIFACT, "ExampleStatistics", _SPAN, "mlmd.Statistics"),
    TypeSpec(Kind.ARTIFACT, "Schema"),
    TypeSpec(Kind.ARTIFACT, "ExampleAnomalies", _SPAN),
    TypeSpec(Kind.ARTIFACT, "TransformGraph"),
    TypeSpec(Kind.ARTIFACT, "HyperParameters"),
    TypeSpec(Kind.ARTIFACT, "Model", (), "mlmd.Model"),
    TypeSpec(Kind.ARTIFACT, "ModelRun"),
    TypeSpec(Kind.ARTIFACT, "ModelEvaluation"),
    TypeSpec(Kind.ARTIFACT, "ModelBlessing"),
    TypeSpec(Kind.ARTIFACT, "InfraBlessing"),
    TypeSpec(Kind.ARTIFACT, "PushedModel"),
    TypeSpec(Kind.EXECUTION, _C + "example_gen.csv_example_gen.component.CsvExampleGen"),
    TypeSpec(Kind.EXECUTION, _C + "statistics_gen.component.StatisticsGen"),
    TypeSpec(Kind.EXECUTION, _C + "schema_gen.component.SchemaGen"),
    TypeSpec(Kind.EXECUTION, _C + "example_validator.component.ExampleValidator"),
    TypeSpec(Kind.EXECUTION, _C + "transform.component.Transform"),
    TypeSpec(Kind.EXECUTION, _C + "tuner.component.Tuner"),
    TypeSpec(Kind.EXECUTION, "tfx.dsl.components.common.resolver.Resolver"),
    TypeSpec(Kind.EXECUTION, _C + "trainer.component.Trainer"),
    TypeSpec(Kind.EXECUTION, _C + "evaluator.component.Evaluator"),
    TypeSpec(Kind.EXECUTION, _C + "infra_validator.component.InfraValidator"),
    TypeSpec(Kind.EXECUTION, _C + "pusher.component.Pusher"),
)

TYPE_INDEX = {(t.kind, t.name.rsplit(".", 1)[-1]): i for i, t in enumerate(TYPES)}


def type_code(kind: Kind, short_name: str) -> int:
    """Index into :data:`TYPES` of a type given its kind and last name segment."""
    return TYPE_INDEX[(kind, short_name)]


class Node(IntEnum):
    """The pipeline nodes (TFX node ids); each is one ``node`` context per pipeline."""

    EXAMPLE_GEN = 0
    STATISTICS_GEN = 1
    SCHEMA_GEN = 2
    EXAMPLE_VALIDATOR = 3
    TRANSFORM = 4
    TUNER = 5
    LATEST_MODEL_RESOLVER = 6
    TRAINER = 7
    LATEST_BLESSED_MODEL_RESOLVER = 8
    EVALUATOR = 9
    INFRA_VALIDATOR = 10
    PUSHER = 11


#: node -> (node id as TFX names it, execution type code)
NODES: tuple[tuple[str, int], ...] = (
    ("CsvExampleGen", type_code(Kind.EXECUTION, "CsvExampleGen")),
    ("StatisticsGen", type_code(Kind.EXECUTION, "StatisticsGen")),
    ("SchemaGen", type_code(Kind.EXECUTION, "SchemaGen")),
    ("ExampleValidator", type_code(Kind.EXECUTION, "ExampleValidator")),
    ("Transform", type_code(Kind.EXECUTION, "Transform")),
    ("Tuner", type_code(Kind.EXECUTION, "Tuner")),
    ("latest_model_resolver", type_code(Kind.EXECUTION, "Resolver")),
    ("Trainer", type_code(Kind.EXECUTION, "Trainer")),
    ("latest_blessed_model_resolver", type_code(Kind.EXECUTION, "Resolver")),
    ("Evaluator", type_code(Kind.EXECUTION, "Evaluator")),
    ("InfraValidator", type_code(Kind.EXECUTION, "InfraValidator")),
    ("Pusher", type_code(Kind.EXECUTION, "Pusher")),
)

#: Event path keys (input and output keys), by code.
KEYS: tuple[str, ...] = (
    "examples",
    "statistics",
    "schema",
    "anomalies",
    "transform_graph",
    "transformed_examples",
    "best_hyperparameters",
    "hyperparameters",
    "model",
    "model_run",
    "base_model",
    "baseline_model",
    "evaluation",
    "blessing",
    "model_blessing",
    "infra_blessing",
    "pushed_model",
)
KEY = {k: i for i, k in enumerate(KEYS)}

#: Property names (execution and artifact, declared and custom), by code.
PROPERTY_NAMES: tuple[str, ...] = (
    "cpu_hours",
    "span",
    "version",
    "split_names",
    "tfx_version",
    "input_base",
    "input_config",
    "output_config",
    "exclude_splits",
    "module_path",
    "custom_config",
    "train_args",
    "eval_args",
    "model_type",
    "tune_args",
    "eval_config",
    "serving_spec",
    "push_destination",
    "file_format",
    "payload_format",
    "num_examples",
    "feature_0_mean",
    "feature_0_std",
    "feature_1_mean",
    "feature_1_std",
    "blessed",
    "current_model_id",
    "baseline_model_id",
    "pushed",
    "pushed_destination",
    "pushed_version",
)
PROP = {k: i for i, k in enumerate(PROPERTY_NAMES)}

#: Names of the MLMD system types a fresh schema-10 store holds, with their kinds.
SYSTEM_TYPES: tuple[tuple[str, Kind], ...] = (
    ("mlmd.Dataset", Kind.ARTIFACT),
    ("mlmd.Model", Kind.ARTIFACT),
    ("mlmd.Metrics", Kind.ARTIFACT),
    ("mlmd.Statistics", Kind.ARTIFACT),
    ("mlmd.Train", Kind.EXECUTION),
    ("mlmd.Transform", Kind.EXECUTION),
    ("mlmd.Process", Kind.EXECUTION),
    ("mlmd.Evaluate", Kind.EXECUTION),
    ("mlmd.Deploy", Kind.EXECUTION),
)
