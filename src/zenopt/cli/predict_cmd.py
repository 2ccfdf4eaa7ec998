"""``zenopt predict RUN_DIR FILE``: the run's model on new data, preprocessed as in training."""

from __future__ import annotations

from pathlib import Path

import typer

from zenopt.cli.errors import err_console, reported_errors

__all__ = ["predict"]


def predict(
    run_dir: Path = typer.Argument(..., help="A run folder (the --out of zenopt run)."),
    data: Path = typer.Argument(..., help="A file or folder in the run's input format."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the predictions CSV here (default: standard output)."
    ),
    backend: str = typer.Option(
        "onnxruntime", "--backend", help="Runtime: onnxruntime (the deployed model) or torch."
    ),
) -> None:
    """Predict with a run's model; prints accuracy (or MSE) when the data has labels."""
    with reported_errors():
        import numpy as np

        from zenopt.core.config import RunConfig
        from zenopt.core.errors import ConfigError
        from zenopt.core.heads import prediction_texts, predictions_csv
        from zenopt.core.rundir import atomic_write_text, read_manifest
        from zenopt.data.inference import read_for_prediction
        from zenopt.profile.machine import inference_threads
        from zenopt.runtime.predictor import backend_names, predict_with_backend

        manifest = read_manifest(run_dir)
        if backend not in backend_names():
            raise ConfigError(f"--backend {backend!r}: choose from {', '.join(backend_names())}")
        config = RunConfig.model_validate(manifest["config"])
        model = manifest["model"]
        found = read_for_prediction(data, config.data, model["inputs"], model["task"])
        artifact = run_dir / ("model.onnx" if backend == "onnxruntime" else "model.json")
        threads = inference_threads(config.bench.threads)  # as the run measured it
        outputs = predict_with_backend(backend, artifact, found.X, threads)
        texts = prediction_texts(outputs, model["head"], model["class_names"])
        text = predictions_csv(np.arange(len(texts)), texts, found.labels)
        if out is None:
            typer.echo(text, nl=False)
        else:
            atomic_write_text(out, text)
        summary = f"{len(texts)} predictions with {backend}"
        if found.labels is not None:
            if model["head"] == "identity":
                truth = np.asarray([float(v) for v in found.labels])
                mse = float(np.mean((np.asarray([float(t) for t in texts]) - truth) ** 2))
                summary += f" · MSE {mse:.6g} against the labels in {data}"
            else:
                hits = sum(p == t for p, t in zip(texts, found.labels, strict=True))
                summary += f" · accuracy {hits / len(texts):.4f} against the labels in {data}"
        err_console.print(summary + (f" · written to {out}" if out else ""))
