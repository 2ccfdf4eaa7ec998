"""The run configuration: one pydantic model, loaded from YAML or TOML, overridden by ``--set``.

Sources apply in one explicit priority order (lowest first): built-in defaults, the config
file, then each ``--set section.key=value`` in the order given. Unknown keys are rejected
(``extra="forbid"``) so a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zenopt.core.analysis_config import AnalysisConfig
from zenopt.core.compress_config import STEP_TYPES, CompressConfig
from zenopt.core.data_config import DataConfig
from zenopt.core.errors import ConfigError
from zenopt.core.requirements_config import RequirementsConfig
from zenopt.core.serve_config import ServeConfig
from zenopt.core.tune_config import ParamSpec, TuneConfig

__all__ = [
    "BenchConfig",
    "CompressConfig",
    "DataConfig",
    "ModelConfig",
    "ParamSpec",
    "RequirementsConfig",
    "RunConfig",
    "TrainConfig",
    "TuneConfig",
    "apply_overrides",
    "flatten_config",
    "load_config",
    "parse_override",
]

CONFIG_VERSION: Literal[1] = 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    name: str = Field(
        "auto",
        description="auto (mnist_cnn for images, mlp for tables), a zoo name (mlp, mnist_cnn, "
        "tf_cnn), 'package.module:factory' (a factory returning a keras.Model trains in Keras), "
        "'onnx:PATH' (a trained ONNX model, optimized as it is) or 'keras:PATH' (a .keras file "
        "or a SavedModel folder)",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of the model factory"
    )


class TrainConfig(_Section):
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = Field(
        "adam", description="the training optimizer"
    )
    lr: float = Field(
        2e-3, gt=0.0, le=10.0, description="initial learning rate, which the schedule then lowers"
    )
    batch_size: int = Field(
        64, ge=1, description="training rows per batch (compression's fine-tuning uses it too)"
    )
    epochs: int = Field(
        20,
        ge=0,
        description="training epochs; 0 only for a model that arrives trained (keras:PATH: "
        "evaluated as it is, else fine-tuned)",
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="momentum of sgd and rmsprop")
    nesterov: bool = Field(False, description="Nesterov momentum, for sgd with momentum > 0")
    weight_decay: float = Field(
        0.0, ge=0.0, description="the optimizer's own decay (decoupled from the gradient for adamw)"
    )
    l1: float = Field(
        0.0,
        ge=0.0,
        description="explicit penalty l1·Σ|w| over weight matrices and kernels (not biases), "
        "added to the loss",
    )
    l2: float = Field(
        0.0,
        ge=0.0,
        description="explicit penalty l2·Σw² over weight matrices and kernels (not biases), "
        "added to the loss",
    )
    loss: Literal["auto", "cross_entropy", "bce", "mse"] = Field(
        "auto",
        description="training loss; auto: bce for two classes, cross_entropy for more, mse for "
        "regression (a model that arrives trained, or a Keras one, fixes its own)",
    )
    schedule: Literal["none", "cosine", "plateau"] = Field(
        "cosine",
        description="learning-rate schedule: cosine annealing over the epochs, or plateau: "
        "halved when the validation metric stalls (for about half the patience)",
    )
    patience: int | None = Field(
        8,
        ge=1,
        description="early-stopping patience on the validation metric (accuracy ties broken by "
        "validation loss), best epoch's weights restored; null disables",
    )
    min_delta: float = Field(
        0.0,
        ge=0.0,
        description="smallest gain of the validation metric that counts as an improvement for "
        "early stopping",
    )


class BenchConfig(_Section):
    backends: list[str] = Field(
        default_factory=lambda: ["torch", "onnxruntime"],
        min_length=1,
        description="runtimes the baseline is profiled and evaluated in: torch, onnxruntime, "
        "torch_compile; must hold requirements.backend, and torch for the speedup targets",
    )
    batch_sizes: list[int] = Field(
        default_factory=lambda: [1, 64],
        min_length=1,
        description="batch sizes the baseline is profiled at, besides the requirements' latency "
        "and throughput batches; the analysis' batch scaling goes up to the largest",
    )
    warmup: int = Field(20, ge=0, description="untimed calls before timing")
    repeats: int = Field(
        200,
        ge=10,
        description="timed calls per latency measurement, at batch 1 and the latency batch "
        "(latency percentiles)",
    )
    throughput_repeats: int = Field(
        30, ge=3, description="timed calls at the other, larger batches (throughput)"
    )
    threads: int | None = Field(
        None, ge=1, description="inference threads; null = the physical cores"
    )
    confirm_rounds: int = Field(
        7,
        ge=2,
        description="interleaved rounds of the final speed confirmation (order rotated)",
    )
    noise_busy_cores: float = Field(
        0.3, ge=0.0, description="cores busy elsewhere above which a timing is unsteady"
    )
    noise_spread: float = Field(
        0.10,
        gt=0.0,
        description="relative half-width of an interval above which it is unsteady (0.1: "
        "wider than ±10% of its centre)",
    )
    noise_wait_s: float = Field(
        5.0, ge=0.0, description="pause before an unsteady timing is redone"
    )
    noise_retries: int = Field(
        2,
        ge=0,
        description="times an unsteady timing is redone at most; then its figures are marked noisy",
    )
    noise_window_s: float = Field(
        0.5, gt=0.0, description="how long the quiet check listens before timing"
    )
    host_lock: str | None = Field(
        None,
        description="lock file: one timing at a time per host, none beside training; null = "
        "$ZENOPT_HOST_LOCK or the system temp folder; off = no lock",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _positive_batches(cls, value: list[int]) -> list[int]:
        if any(b < 1 for b in value):
            raise ValueError("every batch size must be >= 1")
        return sorted(set(value))


class RunConfig(_Section):
    version: Literal[1] = Field(CONFIG_VERSION, description="the config format's version")
    seed: int = Field(
        0,
        description="seeds the split, initialisation and shuffling: same seed, same metrics",
    )
    data: DataConfig = Field(
        default_factory=DataConfig,
        description="where the data comes from, and how it is split and transformed",
    )
    model: ModelConfig = Field(
        default_factory=ModelConfig, description="the model trained or optimized"
    )
    train: TrainConfig = Field(default_factory=TrainConfig, description="how the model is trained")
    tune: TuneConfig = Field(
        default_factory=TuneConfig,
        description="the quality loop: an Optuna study over training hyperparameters",
    )
    requirements: RequirementsConfig = Field(
        default_factory=RequirementsConfig,
        description="the quality, speed and size targets the run is judged by",
    )
    compress: CompressConfig = Field(
        default_factory=CompressConfig,
        description="compression after export: a fixed plan, or the efficiency search",
    )
    bench: BenchConfig = Field(
        default_factory=BenchConfig,
        description="how speed is measured: runtimes, batch sizes, calls and noise checks",
    )
    analysis: AnalysisConfig = Field(
        default_factory=AnalysisConfig,
        description="what the report shows beyond the verdict (see the profiling guide)",
    )
    serve: ServeConfig = Field(
        default_factory=ServeConfig,
        description="the serve stage, run when requirements.serve_p99_ms is set",
    )
    trace: Literal["off", "itt", "nvtx"] = Field(
        "off",
        description="named ranges around stages, trials, compression steps and timed blocks: "
        "itt for Intel VTune, nvtx for NVIDIA Nsight Systems",
    )

    @field_validator("trace", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare off as false

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def flatten_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` → ``{"train.lr": 0.1}``: the keys ``--set`` takes; lists and
    empty sections are leaves."""
    if isinstance(config, dict) and config:
        flat: dict[str, Any] = {}
        for key, value in config.items():
            flat.update(flatten_config(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: config} if prefix else {}


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing .yaml or .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}); check it") from None
    suffix = path.suffix.lower()
    try:
        if suffix in {".yaml", ".yml"}:
            loaded = yaml.safe_load(text)
        elif suffix == ".toml":
            loaded = tomllib.loads(text)
        else:
            raise ConfigError(
                f"{path}: unknown config format {suffix!r}; use a .yaml, .yml or .toml file"
            )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {loaded!r}")
    return loaded


def _scalar(text: str) -> Any:
    """Parse an override value as YAML, reading ``1e-3`` as a number (YAML 1.1 would not)."""
    try:
        value = yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into its key path and parsed value."""
    key, sep, raw = item.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or any(not part for part in path):
        raise ConfigError(
            f"--set {item!r}: expected section.key=value, for example --set train.lr=0.01"
        )
    return path, _scalar(raw.strip())


def _is_text_field(path: list[str]) -> bool:
    """True when ``path`` names a ``str`` field, whose value must stay the text given."""
    model: type[BaseModel] = RunConfig
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if depth == len(path) - 1:
            return annotation in (str, str | None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return False


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``section.key=value`` override applied in order.

    Values are read as YAML (``1e-3``, ``true``, ``[64, 32]``, ``null``), except for text
    fields such as ``data.target``, which keep exactly the text given (a column named ``0``).
    """
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for item in overrides:
        path, value = parse_override(item)
        if path[:2] == ["tune", "space"] and len(path) > 3:  # space keys hold dots themselves
            path = [*path[:2], ".".join(path[2:])]
        if value is not None and _is_text_field(path):
            value = item.partition("=")[2].strip()
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return merged


def _describe(error: dict[str, Any], source: str) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        return f"{source}: unknown key {loc!r}; allowed keys here: {', '.join(allowed)}"
    got = error.get("input")
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        tag = (error.get("ctx") or {}).get("tag", got)
        tags = ", ".join(STEP_TYPES)
        return f"{source}: {loc}.method: unknown method {tag!r}; choose from {tags}"
    if kind == "missing":
        return f"{source}: {loc}: required key is missing; add it to the config or --set it"
    message = error["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    return f"{source}: {loc}: {message}; got {got!r}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    if len(loc) == 4 and loc[:2] == ("compress", "plan") and loc[3] in STEP_TYPES:
        return list(STEP_TYPES[loc[3]].model_fields)  # a step of the plan: its own keys
    model: type[BaseModel] = RunConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Build the run configuration from defaults, an optional file and ``--set`` overrides."""
    raw = _read_file(path) if path is not None else {}
    overrides = overrides or []
    merged = apply_overrides(raw, overrides)
    source = str(path) if path is not None else "--set"
    if overrides and path is not None:
        source = f"{path} + --set"
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        lines = [_describe(err, source) for err in exc.errors()]  # type: ignore[arg-type]
        raise ConfigError(" | ".join(lines)) from None
