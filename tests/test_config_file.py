"""`chatrepl --config`: every setting of config.toml, documented, in one place (CONFIG_TEMPLATE)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from repl import config as config_mod


def test_the_template_names_every_setting_the_file_accepts() -> None:
    template = config_mod.CONFIG_TEMPLATE
    named = set(re.findall(r"^# \[?([a-z_]+)[\].= ]", template, re.MULTILINE))
    assert set(config_mod._KEYS) <= named, set(config_mod._KEYS) - named


def test_config_prints_it_and_what_it_prints_is_a_valid_settings_file(
        isolated: dict[str, str]) -> None:
    env = {**isolated, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "repl", "--config"], env=env,
                          capture_output=True, text=True, timeout=60)
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    assert done.returncode == 0
    assert done.stdout == config_mod.CONFIG_TEMPLATE
    assert done.stderr == f"chatrepl: the settings file is {path} (not there yet)\n"
    path.parent.mkdir(parents=True)
    path.write_text(done.stdout)
    listed = subprocess.run([sys.executable, "-m", "repl", "--list"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
