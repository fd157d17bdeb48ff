import base64
import os
import stat
from pathlib import Path

import pytest

from modelbay import Bay, ConfigError, Settings
from modelbay.registry.keys import generate_master_key, load_master_key


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'modelbay.db'}"
    assert s.artifacts_dir == tmp_path / "artifacts"


def test_home_defaults_to_dot_modelbay_in_the_user_home() -> None:
    assert Settings().home == Path(os.environ["HOME"]) / ".modelbay"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELBAY_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("MODELBAY_ARTIFACTS", str(tmp_path / "blobs"))
    s = Settings()
    assert s.home == tmp_path / "h"
    assert s.artifacts_dir == tmp_path / "blobs"


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    first = load_master_key(s)
    assert len(first) == 32
    mode = stat.S_IMODE(s.master_key_file.stat().st_mode)
    assert mode == 0o600
    assert load_master_key(s) == first


@pytest.mark.parametrize("encode", ["base64", "hex"])
def test_master_key_from_environment(tmp_path: Path, encode: str) -> None:
    raw = os.urandom(32)
    text = base64.b64encode(raw).decode() if encode == "base64" else raw.hex()
    s = Settings(home=tmp_path, master_key=text)
    assert load_master_key(s) == raw
    assert not s.master_key_file.exists()


def test_a_short_master_key_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32 random bytes"):
        load_master_key(Settings(home=tmp_path, master_key="too-short"))


def test_a_wrong_master_key_is_refused_on_open(tmp_path: Path) -> None:
    Bay(home=tmp_path, master_key=generate_master_key()).close()
    with pytest.raises(ConfigError, match="does not match"):
        Bay(home=tmp_path, master_key=generate_master_key())


def test_a_bad_database_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        Bay(home=tmp_path, database_url="nonsense")


def test_each_server_worker_gets_its_share_of_the_usable_cpus() -> None:
    from modelbay.settings import usable_cpus, worker_cpus

    assert usable_cpus() == len(os.sched_getaffinity(0))
    assert worker_cpus() == usable_cpus()  # one process: every CPU
    assert worker_cpus(usable_cpus()) == 1
    assert worker_cpus(4 * usable_cpus()) == 1  # never none
