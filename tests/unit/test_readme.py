"""The README documents what the code accepts: every config key and every CLI command."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel

from zenopt.core.config import RunConfig

README = Path(__file__).parents[2] / "README.md"


def _config_block() -> str:
    text = README.read_text()
    start = text.index("## Configuration reference")
    match = re.search(r"```yaml\n(.*?)```", text[start:], re.S)
    assert match is not None
    return match.group(1)


def test_config_reference_is_a_valid_config_with_the_real_defaults() -> None:
    documented = RunConfig.model_validate(yaml.safe_load(_config_block()))
    assert documented == RunConfig()


def test_config_reference_lists_every_key() -> None:
    documented = yaml.safe_load(_config_block())
    for name, field in RunConfig.model_fields.items():
        if name == "version":
            continue
        assert name in documented, name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            assert set(documented[name]) == set(annotation.model_fields), name


def test_cli_commands_are_documented() -> None:
    text = README.read_text()
    commands = (
        "zenopt run",
        "zenopt tune",
        "zenopt worker",
        "zenopt profile",
        "zenopt report",
        "zenopt predict",
        "zenopt compress",
        "zenopt compare",
        "make run",
    )
    for command in (*commands, "make test"):
        assert command in text
