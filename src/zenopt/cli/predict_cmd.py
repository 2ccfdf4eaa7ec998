"""``zenopt predict RUN_DIR FILE``: the model the run deployed (or a candidate folder of it) on
new data, preprocessed as in training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from zenopt.cli.errors import err_console, reported_errors

if TYPE_CHECKING:
    import numpy as np

    from zenopt.runtime.deployed import DeployedModel

__all__ = ["predict"]


def _outputs(
    deployed: DeployedModel, backend: str, X: np.ndarray, threads: int, data: Path
) -> np.ndarray:
    """The model's outputs on ``X``: whatever the runtime raises becomes one line (the checks
    before it should leave nothing for it to reject)."""
    from zenopt.core.errors import RuntimeBackendError, ZenoptError, first_line
    from zenopt.runtime.predictor import predict_with_backend

    artifact = deployed.file(backend)
    try:
        return predict_with_backend(backend, artifact, X, threads)
    except ZenoptError:
        raise
    except Exception as exc:
        raise RuntimeBackendError(
            f"{backend} could not run {deployed.label} ({artifact}) on {data} (input of "
            f"shape {tuple(X.shape)}): {first_line(exc)}"
        ) from exc


def _check_out(out: Path, run_dir: Path) -> None:
    """``--out`` is a file to write, and none of the run's own (its manifest, models)."""
    from zenopt.core.errors import ConfigError

    if out.is_dir():
        raise ConfigError(
            f"--out {out}: a folder; give a file name, e.g. --out {out / 'predictions.csv'}"
        )
    root = run_dir.resolve()
    root = root if (root / "manifest.json").is_file() else root.parent.parent
    if out.exists() and root in out.resolve().parents:
        raise ConfigError(
            f"--out {out}: a file of the run in {root}; write the predictions outside it"
        )


def _probabilities(
    outputs: np.ndarray, model: dict[str, Any], asked: bool
) -> dict[str, np.ndarray] | None:
    """Class name → its probability per row, when asked for (a one-line error for a model
    that predicts values)."""
    from zenopt.core.errors import ConfigError
    from zenopt.core.heads import class_probabilities

    if not asked:
        return None
    if model["head"] == "identity":
        raise ConfigError("--probabilities: this model predicts values, not classes; leave it out")
    columns = class_probabilities(outputs, model["head"])
    return {str(name): columns[:, i] for i, name in enumerate(model["class_names"])}


def _scored(texts: list[str], labels: list[str], head: str) -> str:
    """`` · MSE …`` or `` · accuracy …`` of the predictions against the data's labels."""
    import numpy as np

    if head == "identity":
        truth = np.asarray([float(v) for v in labels])
        mse = float(np.mean((np.asarray([float(t) for t in texts]) - truth) ** 2))
        return f" · MSE {mse:.6g}"
    hits = sum(p == t for p, t in zip(texts, labels, strict=True))
    return f" · accuracy {hits / len(texts):.4f}"


def predict(
    run_dir: Path = typer.Argument(
        ...,
        help="A run folder (the --out of zenopt run): its deployed model. Or a candidate folder "
        "in it: RUN/compressed/NAME (zenopt compress) or RUN/search/trial-NNNNN.",
    ),
    data: Path = typer.Argument(..., help="A file or folder in the run's input format."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the predictions CSV here (default: standard output)."
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="Runtime: onnxruntime or torch. Default: the one the model is deployed in.",
        show_default=False,
    ),
    probabilities: bool = typer.Option(
        False,
        "--probabilities",
        help="Add a p(CLASS) column per class: the classifier's probabilities (as zenopt serve "
        "gives them).",
    ),
) -> None:
    """Predict with the model a run deployed (the one its verdict names); prints accuracy (or
    MSE) when the data has labels."""
    with reported_errors():
        import numpy as np

        from zenopt.core.config import RunConfig
        from zenopt.core.errors import ConfigError
        from zenopt.core.heads import prediction_texts, predictions_csv
        from zenopt.core.rundir import atomic_write_text
        from zenopt.data.inference import read_for_model
        from zenopt.profile.machine import inference_threads
        from zenopt.runtime.deployed import resolve_model
        from zenopt.runtime.predictor import backend_names

        manifest, deployed = resolve_model(run_dir)
        if out is not None:
            _check_out(out, run_dir)
        backend = backend or deployed.runtime
        if backend not in backend_names():
            raise ConfigError(f"--backend {backend!r}: choose from {', '.join(backend_names())}")
        deployed.file(backend)  # a model without this form fails before the data is read
        config = RunConfig.model_validate(manifest["config"])
        model = manifest["model"]
        found = read_for_model(data, config.data, model)
        threads = deployed.threads or inference_threads(config.bench.threads)  # as measured
        outputs = _outputs(deployed, backend, found.X, threads, data)
        texts = prediction_texts(outputs, model["head"], model["class_names"])
        text = predictions_csv(
            np.arange(len(texts)),
            texts,
            found.labels,
            _probabilities(outputs, model, probabilities),
        )
        if out is None:
            typer.echo(text, nl=False)
        else:
            try:
                atomic_write_text(out, text)
            except OSError as exc:
                raise ConfigError(
                    f"--out {out}: cannot write it ({exc.strerror}); give a writable file path"
                ) from None
        summary = f"{len(texts)} predictions by {deployed.label} in {backend}"
        if found.labels is not None:
            summary += _scored(texts, found.labels, model["head"])
            summary += f" against the labels in {data}"
        err_console.print(summary + (f" · written to {out}" if out else ""))
