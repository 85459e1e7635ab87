"""The command line: version, errors without tracebacks, --debug, config check and show."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autovoice import __version__
from autovoice.cli import main


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "autovoice", *args], capture_output=True, text=True, env=env
    )


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"autovoice {__version__}"


def test_config_errors_print_one_message_and_exit_non_zero(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[training]\nbatch_size = -4\n[audio]\nn_mels = 'many'\n")
    out = run_cli("config", "check", str(path))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "$.training.batch_size: must be > 0, got -4" in out.stderr
    assert '$.audio.n_mels: expected an integer, got string "many"' in out.stderr
    assert str(path) in out.stderr


def test_debug_shows_the_traceback(tmp_path):
    out = run_cli("--debug", "config", "check", str(tmp_path / "missing.toml"))
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "ConfigError" in out.stderr


def test_config_check_ok_and_show_with_overrides(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text("[training]\nbatch_size = 4\n")
    assert main(["config", "check", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok"
    assert main(["config", "show", str(path), "--set", "audio.n_mels=64"]) == 0
    shown = capsys.readouterr().out
    assert "batch_size = 4" in shown and "n_mels = 64" in shown
    assert "[inference]" in shown  # defaults of every section are included


def test_bad_override_is_reported(capsys):
    assert main(["config", "show", "--set", "training.batch_size=0"]) == 1
    assert "$.training.batch_size: must be > 0, got 0" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exc_info:
        main(["frobnicate"])
    assert exc_info.value.code == 2
