"""Storage URLs: defaults, normalisation and one-line errors for every user mistake."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zenopt.core.config import TuneConfig
from zenopt.core.errors import ConfigError
from zenopt.tune.storage import default_study_name, open_storage, redact, storage_url


def test_default_storage_is_a_sqlite_file_in_the_run(tmp_path: Path) -> None:
    url = storage_url(TuneConfig(), tmp_path / "run")
    assert url == f"sqlite:///{(tmp_path / 'run' / 'study.db').resolve()}"
    assert default_study_name(TuneConfig(), tmp_path / "run") == "zenopt-run"
    assert default_study_name(TuneConfig(study="mine"), tmp_path) == "mine"


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "tune.storage: 'not a url' is not a database URL; use sqlite:///"),
        (
            "redis://localhost/0",
            "tune.storage: unsupported database 'redis' in redis://localhost/0",
        ),
        ("sqlite://", "keeps the study in memory, where it cannot be resumed or shared"),
        ("sqlite:////no/such/folder/s.db", "folder /no/such/folder of the SQLite file does not"),
    ],
)
def test_bad_urls_give_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_storage(url, TuneConfig())
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_unreachable_database_gives_one_line_without_the_password() -> None:
    url = f"postgresql://bob:s3cret@127.0.0.1:{_closed_port()}/db"
    with pytest.raises(ConfigError) as info:
        open_storage(url, TuneConfig())
    text = str(info.value)
    assert text.startswith("tune.storage: cannot open postgresql://bob:***@127.0.0.1:")
    assert "check that the database is running" in text
    assert "s3cret" not in text
    assert "\n" not in text


def test_a_file_that_is_not_a_database_gives_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "study.db"
    bogus.write_text("this is not sqlite\n" * 100)
    with pytest.raises(ConfigError, match="cannot open sqlite:///.*study.db: file is not a"):
        open_storage(f"sqlite:///{bogus}", TuneConfig())


def test_a_url_may_use_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENOPT_TEST_DIR", str(tmp_path))
    storage = open_storage("sqlite:///${ZENOPT_TEST_DIR}/s.db", TuneConfig())
    assert storage is not None and (tmp_path / "s.db").is_file()


def test_a_password_from_the_environment_never_shows_in_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZENOPT_TEST_PW", "s3cret")
    for url in (
        f"postgresql://bob:${{ZENOPT_TEST_PW}}@127.0.0.1:{_closed_port()}/db",
        "postgresql://bob:$ZENOPT_TEST_PW@host:notaport/db",
    ):
        with pytest.raises(ConfigError) as info:
            open_storage(url, TuneConfig())
        assert "bob:***@" in str(info.value) and "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("--storage=postgresql://u:p4ss@h/d", "--storage=postgresql://u:***@h/d"),
        ("tune.storage=postgresql://u@h:5432/d", "tune.storage=postgresql://u@h:5432/d"),
        ("postgresql://h:5432/d", "postgresql://h:5432/d"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ],
)
def test_redact_works_on_argv_items(text: str, shown: str) -> None:
    assert redact(text) == shown
