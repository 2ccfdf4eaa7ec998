from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from zenopt.core.config import flatten_config
from zenopt.report.compare import Comparison, Row, compare_manifests, delta
from zenopt.report.compare_render import print_comparison, render_comparison_html
from zenopt.report.format import format_value

EVIL = "<script>alert(1)</script>"


def _rows(comparison: Comparison) -> dict[str, Row]:
    return {row.label: row for section in comparison.sections for row in section.rows}


@pytest.fixture
def base(iris_run: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """The manifest as a reader sees it: read back from the run folder's JSON."""
    run_dir, _ = iris_run
    manifest: dict[str, Any] = json.loads((run_dir / "manifest.json").read_text())
    return manifest


def _edited(base: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """A copy with another seed, 2 points less test accuracy and 1.12× the ORT b1 p50."""
    other = copy.deepcopy(base)
    other["config"]["seed"] = base["config"]["seed"] + 1
    accuracy = base["quality"]["test"]["accuracy"] - 0.02
    other["quality"]["test"]["accuracy"] = accuracy
    other["profile"]["onnxruntime"]["latency_ms"]["b1"]["p50"] *= 1.12
    return other, accuracy


def test_exactly_the_changed_rows_differ_with_their_deltas(base: dict[str, Any]) -> None:
    other, accuracy = _edited(base)
    comparison = compare_manifests([("runs/a", base), ("runs/b", other)])
    rows = _rows(comparison)
    assert set(comparison.differing()) == {
        "run folder",
        "seed",
        "test accuracy (deployed model)",
        "onnxruntime b1 p50 ms",
    }
    seed = base["config"]["seed"]
    assert rows["seed"].cells == (str(seed), str(seed + 1))
    assert rows["seed"].deltas == ("", "+1")
    assert rows["test accuracy (deployed model)"].deltas == ("", "-2.0 pts")
    assert (
        rows["test accuracy (deployed model)"]
        .cells[1]
        .startswith(f"{format_value(accuracy)} (95% CI ")
    )
    assert rows["onnxruntime b1 p50 ms"].deltas == ("", "1.12×")
    # unchanged rows carry no delta, and both runs show the same value
    torch_p50 = rows["torch b1 p50 ms"]
    assert not torch_p50.differs and torch_p50.deltas == ("", "")
    assert torch_p50.cells[0] == format_value(base["profile"]["torch"]["latency_ms"]["b1"]["p50"])
    assert [r.label for r in comparison.config_differences] == ["seed"]
    assert comparison.config_differences[0].cells == (str(seed), str(seed + 1))


def test_a_third_run_equal_to_the_first_has_no_delta(base: dict[str, Any]) -> None:
    other, _ = _edited(base)
    comparison = compare_manifests([("a", base), ("b", other), ("c", copy.deepcopy(base))])
    rows = _rows(comparison)
    assert rows["seed"].deltas == ("", "+1", "")
    assert rows["onnxruntime b1 p50 ms"].deltas == ("", "1.12×", "")
    assert comparison.config_differences[0].cells[2] == str(base["config"]["seed"])


def test_the_same_run_twice_differs_only_in_its_folder(base: dict[str, Any]) -> None:
    comparison = compare_manifests([("a", base), ("b", copy.deepcopy(base))])
    assert comparison.differing() == ["run folder"]
    assert comparison.config_differences == ()


def test_keys_absent_from_a_manifest_show_a_dash(base: dict[str, Any]) -> None:
    other = copy.deepcopy(base)
    other["compress"] = {
        "plan": "int8_dynamic",
        "source": "search",
        "candidate": {
            "plan": "int8_dynamic",
            "trial": 3,
            "runtime": "onnxruntime",
            "primary_metric": "accuracy",
            "test": {"accuracy": 0.9, "accuracy_ci95": [0.8, 0.95]},
            "quality_drop": 0.01,
            "profile": {"latency_ms": {"b1": {"p50": 0.1, "p95": 0.2}}},
            "size_bytes": 2_000_000,
            "sparsity": 0.0,
            "vs_torch_fp32": {"latency_b1_p50": 3.0, "size": 4.0},
        },
    }
    del other["timings"]["profile_s"]
    del other["training"]
    del other["config"]["train"]["lr"]
    rows = _rows(compare_manifests([("a", base), ("b", other)]))
    assert rows["plan"].cells == ("—", "int8_dynamic")
    assert rows["chosen by"].cells == ("—", "efficiency search (trial 3)")
    assert rows["candidate test accuracy"].cells == ("—", "0.9 (95% CI 0.8–0.95)")
    assert rows["candidate size"].cells == ("—", "2.000 MB")
    assert rows["vs torch fp32: size"].cells == ("—", "4×")
    assert rows["vs torch fp32: size"].deltas == ("", "")  # nothing to measure against
    assert rows["profile"].cells[1] == "—" and rows["profile"].differs
    assert rows["epochs run"].cells[1] == "—"
    assert not rows["carried on"].differs and rows["carried on"].cells == ("—", "—")
    config = {r.label: r for r in compare_manifests([("a", base), ("b", other)]).config_differences}
    assert config["train.lr"].cells == (json.dumps(base["config"]["train"]["lr"]), "—")


def test_html_escapes_user_strings_and_marks_differences(base: dict[str, Any]) -> None:
    other, _ = _edited(base)
    other["model"]["name"] = EVIL
    other["data"]["name"] = EVIL
    html = render_comparison_html(compare_manifests([("runs/a", base), ("runs/b", other)]))
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # model and data source
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    assert '<span class="delta">(1.12×)</span>' in html
    assert '<span class="delta">(-2.0 pts)</span>' in html
    # run folder, seed, data source, model, accuracy, ORT p50, and the config's seed
    assert html.count('<tr class="diff">') == 7


def test_console_marks_differences_and_shows_names_verbatim(base: dict[str, Any]) -> None:
    other, _ = _edited(base)
    other["model"]["name"] = "[bold]mlp[/bold]"
    console = Console(record=True, width=240)
    comparison = compare_manifests([("runs/a", base), ("runs/b", other)])
    print_comparison(comparison, console, only_differences=True)
    text = console.export_text()
    assert "≠ seed" in text and "(+1)" in text and "(1.12×)" in text and "(-2.0 pts)" in text
    assert "[bold]mlp[/bold]" in text  # not taken as Rich markup
    assert "torch b1 p50 ms" not in text  # equal rows are left out with only_differences
    assert "config differences" in text
    assert f"{len(comparison.differing())} of " in text


@pytest.mark.parametrize(
    ("first", "value", "kind", "expected"),
    [
        (0.95, 0.958, "pts", "+0.8 pts"),
        (0.9, 0.8995, "pts", "-0.05 pts"),
        (1.0, 1.12, "ratio", "1.12×"),
        (2.0, 1.0, "ratio", "0.5×"),
        (1.0, 1.0004, "ratio", "1.0004×"),  # never a bare "1×" for values that differ
        (1.0, 250.0, "ratio", "250×"),
        (0.0, 1.5, "ratio", "+1.5"),  # no ratio to zero: the difference instead
        (10, 12, "diff", "+2"),
        (1_000, 0, "diff", "-1,000"),
        (None, 1.0, "ratio", ""),
        (True, False, "diff", ""),
        ("adam", "sgd", "text", ""),
    ],
)
def test_delta(first: Any, value: Any, kind: Any, expected: str) -> None:
    assert delta(first, value, kind) == expected


def test_flatten_config_keeps_lists_and_empty_mappings_as_leaves() -> None:
    config = {"seed": 0, "train": {"lr": 0.1, "sizes": [1, 8]}, "model": {"params": {}}}
    assert flatten_config(config) == {
        "seed": 0,
        "train.lr": 0.1,
        "train.sizes": [1, 8],
        "model.params": {},
    }
    assert flatten_config({}) == {}


def test_fewer_than_two_runs_is_refused(base: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="at least two"):
        compare_manifests([("a", base)])
