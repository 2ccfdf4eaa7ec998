"""The docs site and the README: what the build cannot check by itself (``make docs`` builds
the site with warnings as errors: broken links and anchors fail it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel
from tests.docs.blocks import DOCS, KINDS, REASONS, Block, blocks, pages

ROOT = DOCS.parent
README = ROOT / "README.md"

# Every block the tests do not run, by page and first line, with its reason: only a profiler,
# a GPU or a second machine is one (tests/docs/blocks.py).
NOT_RUN = [
    (
        "guides/efficiency-search.md",
        'zenopt run --config job.yaml --out /shared/runs/job --storage "$URL" --study job &',
        "a second machine",
    ),
    (
        "guides/profiling.md",
        "vtune -collect hotspots -result-dir r-zenopt -- zenopt run --config "
        "examples/digits.yaml --trace itt",
        "VTune",
    ),
    (
        "guides/profiling.md",
        "nsys profile --trace=nvtx,osrt --output zenopt-run zenopt run --config "
        "examples/digits.yaml --trace nvtx",
        "Nsight",
    ),
    (
        "guides/scaling-out.md",
        "export ZENOPT_DB_PASSWORD=…   # on every machine",
        "a second machine",
    ),
]


# Every block another test runs (as documented, with a small budget and more checks), in page
# order: the ONNX and Keras examples, whose model files those tests make the same way.
RUN_BY = [
    ("guides/models.md", "test_the_file_is_measured_as_it_is_not_trained"),
    ("guides/models.md", "test_the_file_is_measured_as_it_is_not_trained"),
    ("guides/models.md", "test_it_compresses_like_any_run"),
    ("guides/models.md", "test_a_saved_model_folder_goes_through_tf2onnx"),
    ("guides/models.md", "test_a_keras_file_is_measured_as_keras_predicts_and_quantizes"),
    ("guides/models.md", "test_a_keras_file_is_fine_tuned_in_keras_when_train_epochs_is_set"),
    ("guides/models.md", "test_a_saved_model_folder_goes_through_tf2onnx"),
    (
        "guides/models.md",
        "test_the_keras_example_is_trained_in_keras_measured_as_keras_predicts_and_quantized",
    ),
]


def _all_blocks() -> list[Block]:
    return [b for page in pages() for b in blocks(page)]


def test_every_block_says_what_it_is() -> None:
    for block in _all_blocks():
        assert block.kind in KINDS, f"{block.where}: fence ```{block.kind}; use one of {KINDS}"


def test_no_command_hides_in_a_text_block() -> None:
    """Output and diagrams only: a command belongs in a bash block, where it runs."""
    for block in (b for b in _all_blocks() if b.kind == "text"):
        for line in block.text.splitlines():
            assert not line.lstrip().startswith(("$ ", "zenopt ", "make ")), block.where


def test_the_blocks_not_run_are_these_and_for_these_reasons() -> None:
    marked = []
    for block in _all_blocks():
        if block.not_run is not None:
            reason = next((r for r in REASONS if block.not_run.startswith(r)), None)
            assert reason, f"{block.where}: {block.not_run!r} is not a reason"
            marked.append((block.page, block.text.splitlines()[0], reason))
    assert marked == NOT_RUN


def test_a_block_run_by_another_test_names_a_test_that_runs_it() -> None:
    """The named test exists, and runs the example files the block names (a file the page
    makes itself, a test makes its own of: a Keras model, an ONNX file)."""
    named = []
    for block in (b for b in _all_blocks() if b.run_by):
        file, _, name = block.run_by.partition("::")  # type: ignore[union-attr]
        source = (ROOT / file).read_text(encoding="utf-8")
        assert f"def {name}(" in source, f"{block.where}: no test {block.run_by}"
        body = source[source.index(f"def {name}(") :].split("\ndef ", 1)[0]
        for word in re.findall(r"examples/[\w/]+\.(?:yaml|py)\b", block.text):
            assert Path(word).name in body, f"{block.where}: {word} not in {block.run_by}"
        named.append((block.page, name))
    assert named == [(page, test) for page, test in RUN_BY]


def test_every_config_key_has_a_description() -> None:
    from zenopt.core.config_reference import config_keys, model_tables

    keys = config_keys()
    assert len(keys) > 100
    for table, rows in model_tables().items():
        for row in rows:
            assert row.description, f"{table}: {row.key} has no description (Field(description=))"


def test_the_config_reference_has_every_key_of_the_models() -> None:
    from zenopt.core.config import RunConfig
    from zenopt.core.config_reference import config_keys

    documented = {d.key for d in config_keys()}
    for name, field in RunConfig.model_fields.items():
        assert name in documented
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            for key in field.annotation.model_fields:
                assert f"{name}.{key}" in documented


def test_the_manifest_reference_names_every_top_level_key_a_run_writes() -> None:
    from zenopt.core.manifest_keys import SECTIONS

    golden = json.loads((ROOT / "tests/integration/golden/reduced_default_job.json").read_text())
    written = {re.split(r"[.\[]", path)[0] for path in golden["key_paths"]}
    assert written <= set(SECTIONS), written - set(SECTIONS)


def test_the_cli_reference_has_every_command_and_option() -> None:
    from zenopt.cli.reference import cli_markdown, command_names

    text = cli_markdown()
    for name in command_names():
        assert f"### `zenopt {name}`" in text
    for option in ("--set", "--resume", "--instructions", "--export", "--only-differences"):
        assert f"`{option}" in text or f" {option}" in text, option


def test_readme_is_short_and_points_into_the_docs() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150
    long = [i + 1 for i, line in enumerate(lines) if len(line) > 100]
    assert not long, f"README.md lines over 100 characters: {long}"
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text and "make docs" in text
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).exists(), target


def test_every_page_is_in_the_site_navigation() -> None:
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in pages():
        if page.is_relative_to(DOCS):
            assert str(page.relative_to(DOCS)) in mkdocs, page
