"""Settings.from_env: casting MYCPAAS_* values, rejecting unknown names, and the config file under the env."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mycpaas.settings import Settings


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    """An environment whose data dir is a fresh temporary directory (no stray ./data/mycpaas.env is read)."""
    return {"MYCPAAS_DATA_DIR": str(tmp_path), **{f"MYCPAAS_{k.upper()}": v for k, v in values.items()}}


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path))
    assert settings.data_dir == tmp_path
    assert settings.port == 8080 and settings.host == "127.0.0.1"
    assert settings.print_credentials is True
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'mycpaas.db').resolve()}"
    assert settings.secret_path == tmp_path / "secret.key"


def test_casts(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env(
            tmp_path,
            port="9090",
            auth_max_failures="5",
            auth_failure_window_seconds="1.5",
            print_credentials="false",
            database_url="postgresql://u:p@db/x",
        )
    )
    assert settings.port == 9090 and type(settings.port) is int
    assert settings.auth_max_failures == 5
    assert settings.auth_failure_window_seconds == 1.5 and type(settings.auth_failure_window_seconds) is float
    assert settings.print_credentials is False
    assert settings.database_url == settings.effective_database_url == "postgresql://u:p@db/x"
    assert isinstance(settings.data_dir, Path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("0", False),
        ("false", False),
        ("No", False),
    ],
)
def test_booleans(tmp_path: Path, raw: str, expected: bool) -> None:
    assert Settings.from_env(env(tmp_path, print_credentials=raw)).print_credentials is expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("port", "eighty"),
        ("port", ""),
        ("port", "80.5"),
        ("worker_lease_seconds", "soon"),
        ("print_credentials", "maybe"),
        ("access_log", "sometimes"),
        ("webhook_attempt_retention_days", "0"),  # at least a day: the console's charts read the log
        ("webhook_attempt_retention_days", "0.5"),
        ("unmatched_receipt_retention_days", "-1"),
    ],
)
def test_invalid_values_fail_with_the_variable_name(tmp_path: Path, name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=f"MYCPAAS_{name.upper()}") as info:
        Settings.from_env(env(tmp_path, **{name: raw}))
    if raw:
        assert raw not in str(info.value)  # values may be secrets; the message names only the variable


@pytest.mark.parametrize(
    ("environment", "access_log", "expected"),
    [
        ("development", "", True),  # the default: an operator trying the platform sees every request
        ("production", "", False),
        ("production", "true", True),
        ("development", "no", False),
        ("development", "1", True),
    ],
)
def test_access_log_follows_the_environment_unless_set(
    tmp_path: Path, environment: str, access_log: str, expected: bool
) -> None:
    settings = Settings.from_env(env(tmp_path, environment=environment, access_log=access_log))
    assert settings.logs_access is expected


def test_every_field_reads_back_from_its_own_text(tmp_path: Path) -> None:
    # Catches a field added with a type the caster does not know (it would silently stay a str).
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        if field.name == "data_dir":
            continue
        default = getattr(defaults, field.name)
        text = str(default).lower() if isinstance(default, bool) else str(default)
        value = getattr(Settings.from_env(env(tmp_path, **{field.name: text})), field.name)
        assert value == default and type(value) is type(default), field.name


def test_unknown_mycpaas_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MYCPAAS_PROT"):
        Settings.from_env(env(tmp_path, prot="9090"))


def test_other_variables_are_ignored(tmp_path: Path) -> None:
    environ = {
        **env(tmp_path),
        "PATH": "/bin",
        "PORT": "1",
        "mycpaas_port": "2",
        "MYCPAAS_TEST_DATABASE_URL": "x",
    }
    assert Settings.from_env(environ).port == 8080


def test_config_file_in_the_data_dir_is_read(tmp_path: Path) -> None:
    (tmp_path / "mycpaas.env").write_text(
        "# mycpaas configuration\n"
        "\n"
        "MYCPAAS_PORT=9000\n"
        'MYCPAAS_LOG_LEVEL = "debug"\n'
        "MYCPAAS_PUBLIC_URL=https://sms.example.com/a=b\n"
    )
    settings = Settings.from_env(env(tmp_path))
    assert settings.port == 9000
    assert settings.log_level == "debug"
    assert settings.public_url == "https://sms.example.com/a=b"


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "mycpaas.env").write_text("MYCPAAS_PORT=9000\nMYCPAAS_LOG_LEVEL=debug\n")
    settings = Settings.from_env(env(tmp_path, port="9100"))
    assert settings.port == 9100
    assert settings.log_level == "debug"


def test_config_path_from_mycpaas_config(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere" / "my.env"
    config.parent.mkdir()
    config.write_text("MYCPAAS_HOST=0.0.0.0\n")
    (tmp_path / "mycpaas.env").write_text("MYCPAAS_HOST=10.0.0.1\n")  # not read: MYCPAAS_CONFIG wins
    settings = Settings.from_env({**env(tmp_path), "MYCPAAS_CONFIG": str(config)})
    assert settings.host == "0.0.0.0"


def test_a_missing_config_file_named_by_mycpaas_config_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "typo.env"
    with pytest.raises(ValueError, match=f"MYCPAAS_CONFIG names '{missing}', which is not a file"):
        Settings.from_env({**env(tmp_path), "MYCPAAS_CONFIG": str(missing)})
    with pytest.raises(ValueError, match="MYCPAAS_CONFIG"):
        Settings.from_env({**env(tmp_path), "MYCPAAS_CONFIG": str(tmp_path)})  # a directory
    assert not (tmp_path / "mycpaas.env").exists()
    assert Settings.from_env({**env(tmp_path), "MYCPAAS_CONFIG": ""}).host == "127.0.0.1"  # the default path


def test_unknown_name_in_the_config_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "mycpaas.env").write_text("MYCPAAS_HOTS=0.0.0.0\n")
    with pytest.raises(ValueError, match="MYCPAAS_HOTS"):
        Settings.from_env(env(tmp_path))


def test_from_env_reads_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("MYCPAAS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MYCPAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MYCPAAS_PORT", "8181")
    assert Settings.from_env().port == 8181


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
