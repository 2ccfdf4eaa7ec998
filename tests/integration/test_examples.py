"""The example configs: one per input kind, and the variants of the default job. Each runs end
to end on the example data from the docs' data guide
(``tests/docs/test_doc_examples_guides.py``)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"
CONFIGS = sorted(
    p.name
    for p in EXAMPLES.glob("*.yaml")
    if p.name
    not in {"digits.yaml", "tune_breast_cancer.yaml", "compress_digits.yaml", "keras_mnist.yaml"}
)


def test_compress_example_is_the_default_job_with_the_plan() -> None:
    from zenopt.compress import check_plan, plan_label
    from zenopt.core.config import load_config

    config = load_config(EXAMPLES / "compress_digits.yaml")
    default = load_config(EXAMPLES / "digits.yaml")
    check_plan(list(config.compress.plan))
    assert plan_label(list(config.compress.plan)) == (
        "prune(ratio=0.5) -> distill -> quantize(mode=static)"
    )
    assert (config.data, config.model, config.seed) == (default.data, default.model, default.seed)


def test_keras_example_is_the_default_job_with_the_keras_network() -> None:
    """Run by ``tests/integration/test_keras_factory.py`` (it needs the TensorFlow extra)."""
    from zenopt.core.config import load_config

    config = load_config(EXAMPLES / "keras_mnist.yaml")
    default = load_config(EXAMPLES / "digits.yaml")
    assert config.model.name == "examples.keras_mnist:classic_cnn"
    same = {
        "model": default.model,
        "requirements": default.requirements,
        "compress": default.compress,
    }  # this network's own efficiency targets and budget
    assert config.model_copy(update=same) == default
    assert config.requirements.min_accuracy == default.requirements.min_accuracy


def test_every_input_kind_has_an_example() -> None:
    assert CONFIGS == [
        "arrays_npz.yaml",
        "clinical_visits.yaml",
        "image_folder.yaml",
        "mnist_idx.yaml",
        "table_csv.yaml",
        "table_given_test.yaml",
        "table_parquet.yaml",
    ]


def test_the_data_guide_runs_every_input_kind() -> None:
    """Its examples run in ``tests/docs/test_doc_examples_guides.py``: every example config
    among them."""
    from tests.docs.blocks import DOCS, blocks, commands

    guide = DOCS / "guides" / "data.md"
    ran = " ".join(c for b in blocks(guide) if b.kind == "bash" for c in commands(b.text))
    for name in CONFIGS:
        assert f"--config examples/{name}" in ran, name
