"""The manifest → (params, metrics, step metrics, tags, files) mapping, with no MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from zenopt.track.record import (
    MAX_KEY_LENGTH,
    MAX_PARAM_LENGTH,
    config_params,
    run_files,
    tracking_record,
)


def manifest_value(manifest: dict[str, Any], name: str) -> Any:
    """The value a dotted metric name points at; keys may themselves hold dots."""
    node: Any = manifest
    while name:
        key = next(k for k in node if name == k or name.startswith(f"{k}."))
        node, name = node[key], name[len(key) + 1 :]
    return node


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, text in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = json.loads(text)
    return nested


def test_params_are_the_config_flattened_with_values_as_set_reads_them(
    manifest: dict[str, Any],
) -> None:
    params = tracking_record(manifest).params
    assert params["train.lr"] == "0.002"
    assert params["train.optimizer"] == "adam"  # text as it is, not quoted
    assert params["train.nesterov"] == "false"
    assert params["data.target"] == "null"
    assert params["data.clip_quantiles"] == "[0.01, 0.99]"
    assert params["model.params"] == "{}"  # an empty section is still a column
    assert params["compress.search.space.prune_ratio"] == "[0.0, 0.5]"
    assert all(not key.startswith(("environment", "verdict")) for key in params)


keys = st.text(alphabet="abcxyz_", min_size=1, max_size=6)
leaves = st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=3)
configs = st.recursive(
    st.dictionaries(keys, leaves, max_size=4),
    lambda inner: st.dictionaries(keys, inner | leaves, max_size=4),
    max_leaves=12,
)


@given(configs)
def test_flattened_config_reads_back_to_the_config(config: dict[str, Any]) -> None:
    assert unflatten(config_params(config)) == config


def test_long_values_and_odd_keys_are_cut_to_mlflow_limits() -> None:
    flat = config_params({"model": {"params": {"note": "x" * 9000, "a,b(c)": 1, "k" * 300: 2}}})
    assert len(flat["model.params.note"]) == MAX_PARAM_LENGTH
    assert flat["model.params.note"].endswith("…")
    assert flat["model.params.a_b_c_"] == "1"
    assert all(len(key) <= MAX_KEY_LENGTH for key in flat)


def test_every_metric_is_the_manifest_value_under_its_name(manifest: dict[str, Any]) -> None:
    metrics = tracking_record(manifest).metrics
    for name, value in metrics.items():
        assert value == float(manifest_value(manifest, name)), name
    expected = {"quality.drop.value", "tune.chosen.value", "cost.params", "cost.flops"}
    expected |= {"verdict.exit_code", "verdict.all_met", "export.max_abs_diff"}
    for split in ("test", "validation"):
        expected |= {f"quality.{split}.{m}" for m in ("n", "accuracy", "f1_macro")}
    for backend, profile in manifest["profile"].items():
        for batch in profile["latency_ms"]:
            expected |= {f"profile.{backend}.latency_ms.{batch}.{p}" for p in ("p50", "p95")}
        expected |= {f"profile.{backend}.throughput.{b}" for b in profile["throughput"]}
    candidate = manifest["compress"]["candidate"]
    expected |= {f"compress.candidate.vs_torch_fp32.{k}" for k in candidate["vs_torch_fp32"]}
    expected |= {"compress.candidate.size_bytes", "compress.candidate.validation.accuracy"}
    expected |= {"compress.candidate.test.accuracy", "quality.trained_test.accuracy"}
    expected |= {"quality.test_drop.drop", "quality.test_drop.mcnemar_p"}
    expected |= {f"search.counts.{k}" for k in manifest["search"]["counts"]}
    expected |= {f"cost.size_bytes.{k}" for k in manifest["cost"]["size_bytes"]}
    assert expected <= set(metrics)
    assert metrics["verdict.all_met"] == 0.0


def test_samples_tables_and_text_are_not_metrics(manifest: dict[str, Any]) -> None:
    names = set(tracking_record(manifest).metrics)
    for part in ("samples_ms", "per_class", "ci95", "confusion", "throughput_detail", "p90"):
        assert not any(part in name for name in names), part


def test_history_is_one_step_per_epoch(manifest: dict[str, Any]) -> None:
    steps = tracking_record(manifest).steps
    history = manifest["training"]["history"]
    assert set(steps) == {f"training.history.{k}" for k in ("train_loss", "val_metric", "lr")}
    for name, points in steps.items():
        key = name.rsplit(".", 1)[1]
        assert points == [(e["epoch"], e[key]) for e in history]


def test_tags_say_what_ran_where_and_the_verdict(manifest: dict[str, Any], tmp_path: Path) -> None:
    tags = tracking_record(manifest, tmp_path).tags
    assert tags["zenopt.verdict"] == "missed"
    assert tags["zenopt.missed"] == "max_size_mb"
    assert tags["zenopt.deploy_backend"] == manifest["verdict"]["deploy_backend"]
    assert tags["zenopt.cpu_model"] == manifest["environment"]["cpu_model"]
    assert tags["zenopt.data_source"] == manifest["config"]["data"]["source"]
    assert tags["zenopt.version"] == manifest["zenopt_version"]
    assert tags["zenopt.status"] == "complete"
    assert tags["zenopt.run_dir"] == str(tmp_path.resolve())
    manifest["requirements"] = []
    assert tracking_record(manifest).tags["zenopt.verdict"] == "measured only"
    manifest["requirements"] = [{"name": "min_accuracy", "met": True}]
    manifest["verdict"].update(all_met=True, missed=[])
    tags = tracking_record(manifest).tags
    assert tags["zenopt.verdict"] == "met" and "zenopt.missed" not in tags


def test_run_files_are_the_ones_present_and_the_deployed_folder(
    manifest: dict[str, Any], run_folder: Path
) -> None:
    files, deployed = run_files(manifest, run_folder)
    names = [p.name for p in files]
    assert names == [
        "manifest.json",
        "report.html",
        "config.yaml",
        "model.json",
        "model.safetensors",
        "model.onnx",
    ]
    assert deployed == run_folder / manifest["verdict"]["deployed_model"]
    (run_folder / "best_config.yaml").write_text("seed: 0\n")
    (run_folder / "model.onnx").unlink()
    files, _ = run_files(manifest, run_folder)
    assert "best_config.yaml" in [p.name for p in files]
    assert "model.onnx" not in [p.name for p in files]
    del manifest["verdict"]["deployed_model"]
    assert run_files(manifest, run_folder)[1] is None
