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


class DataConfig(_Section):
    source: str = Field("digits", description="bundled data set name, or a file/folder path")
    target: str | None = Field(None, description="target column of a table")
    labels: str | None = Field(None, description="labels IDX file for an IDX images file")
    task: Literal["auto", "classification", "regression"] = "auto"
    resize: int | Literal["auto"] | None = Field(
        "auto", description="image side after resizing; auto: 28 for digits, files unchanged"
    )
    color: Literal["grayscale", "rgb"] = "grayscale"
    categorical: list[str] | None = Field(
        None, description="exactly these columns are categorical; null = detect text columns"
    )
    drop: list[str] = Field(default_factory=list, description="columns removed before anything")
    keep_ids: bool = Field(False, description="use columns that look like identifiers anyway")
    group: str | None = Field(
        None, description="column whose rows stay on one side of every split (a patient)"
    )
    test_source: str | None = Field(
        None, description="a given test set (file/folder); auto: the IDX t10k pair"
    )
    val_source: str | None = Field(None, description="a given validation set (file/folder)")
    encode: Literal["onehot", "ordinal"] = "onehot"
    impute: Literal["none", "mean", "median", "most_frequent", "constant"] = "none"
    impute_value: float = 0.0
    drop_duplicates: bool = Field(False, description="drop repeated training rows")
    balance: Literal["none", "class_weight", "oversample", "undersample", "smote"] = "none"
    augment: list[Literal["shift", "rotate", "noise", "mixup"]] = Field(default_factory=list)
    augment_shift: float = Field(2.0, ge=0.0, description="pixels")
    augment_rotate: float = Field(10.0, ge=0.0, le=180.0, description="degrees")
    augment_noise: float = Field(0.1, ge=0.0, description="std, in scaled units")
    mixup_alpha: float = Field(0.2, gt=0.0)
    clip: Literal["none", "quantile", "zscore"] = "none"
    clip_quantiles: tuple[float, float] = (0.01, 0.99)
    clip_zscore: float = Field(3.0, gt=0.0)
    scale: Literal["standard", "minmax", "robust", "none"] = "standard"
    select: Literal["none", "variance", "kbest_f", "kbest_mi", "model"] = "none"
    select_k: int = Field(10, ge=1)
    variance_threshold: float = Field(0.0, ge=0.0)
    pca: int | float | None = Field(None, description="components, or variance fraction in (0, 1)")
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)

    @field_validator("clip_quantiles")
    @classmethod
    def _quantiles(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 <= low < high <= 1.0:
            raise ValueError("must be two quantiles 0 <= low < high <= 1")
        return value

    @field_validator("pca")
    @classmethod
    def _pca(cls, value: int | float | None) -> int | float | None:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ValueError("a fraction of variance must be between 0 and 1 (or give a count)")
        if isinstance(value, int) and value < 1:
            raise ValueError("a component count must be >= 1")
        return value

    @field_validator("resize")
    @classmethod
    def _resize_range(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 4 <= value <= 512:
            raise ValueError("must be between 4 and 512, 'auto' or null")
        return value

    def image_side(self, default: int | None) -> int | None:
        """The side images are resized to: ``resize``, or ``default`` when it is ``auto``."""
        return default if self.resize == "auto" else self.resize  # type: ignore[return-value]


class ModelConfig(_Section):
    name: str = Field(
        "auto",
        description="zoo name, 'auto', 'package.module:factory', 'onnx:PATH' (a trained ONNX "
        "model, optimized as it is) or 'keras:PATH' (a .keras file or a SavedModel folder)",
    )
    params: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(_Section):
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float = Field(2e-3, gt=0.0, le=10.0)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(
        20,
        ge=0,
        description="training epochs; 0 only for a model that arrives trained (keras:PATH: "
        "evaluated as it is, else fine-tuned)",
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    l1: float = Field(0.0, ge=0.0, description="explicit L1 penalty on weights, added to the loss")
    l2: float = Field(0.0, ge=0.0, description="explicit L2 penalty on weights, added to the loss")
    loss: Literal["auto", "cross_entropy", "bce", "mse"] = "auto"
    schedule: Literal["none", "cosine", "plateau"] = "cosine"
    patience: int | None = Field(8, ge=1, description="early-stopping patience; null disables")
    min_delta: float = Field(0.0, ge=0.0)


class BenchConfig(_Section):
    backends: list[str] = Field(default_factory=lambda: ["torch", "onnxruntime"], min_length=1)
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 64], min_length=1)
    warmup: int = Field(20, ge=0)
    repeats: int = Field(200, ge=10, description="timed calls per latency measurement")
    throughput_repeats: int = Field(30, ge=3)
    threads: int | None = Field(None, ge=1, description="inference threads; null = all cores")
    confirm_rounds: int = Field(
        7, ge=2, description="interleaved rounds of the final speed confirmation"
    )
    noise_busy_cores: float = Field(
        0.3, ge=0.0, description="cores busy elsewhere above which a timing is unsteady"
    )
    noise_spread: float = Field(
        0.10, gt=0.0, description="relative half-width of an interval above which it is noisy"
    )
    noise_wait_s: float = Field(5.0, ge=0.0, description="pause before timing again")
    noise_retries: int = Field(2, ge=0, description="times an unsteady timing is redone")
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
    version: Literal[1] = CONFIG_VERSION
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    requirements: RequirementsConfig = Field(default_factory=RequirementsConfig)
    compress: CompressConfig = Field(default_factory=CompressConfig)
    bench: BenchConfig = Field(default_factory=BenchConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
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
