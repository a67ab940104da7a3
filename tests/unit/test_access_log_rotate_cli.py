"""``lienthong log rotate-access-key``: one line of key ids on success, one error line and exit 1
when the key folder or its key is missing or unreadable (and nothing written then)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lienthong.cli import main
from store.access_log_keys import load_access_log_keys
from store.log_keys import access_log_key, key_id

CURRENT = Path("adapter") / "accesslog.key"
RETIRED = Path("adapter") / "accesslog.retired"


def _rotate(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["log", "rotate-access-key", *args], env=env)
    return result.exit_code, result.output


def test_rotation_prints_the_new_and_retired_key_ids_only(tmp_path: Path) -> None:
    """Exit 0 and one line naming the new and the retired key by id; no key bytes in it; the
    folder then holds the new key and the retired one."""
    old = access_log_key(tmp_path)
    code, output = _rotate("--keys", str(tmp_path))
    assert code == 0, output
    new = (tmp_path / CURRENT).read_bytes()
    assert len(output.strip().splitlines()) == 1
    assert f"new key {key_id(new)}" in output
    assert f"retired key {key_id(old)}" in output
    assert "restart the adapter" in output
    for key in (old, new):
        assert key.hex() not in output
    ring = load_access_log_keys(tmp_path, create=False)
    assert (ring.current, ring.retired) == (new, (old,))


def test_the_key_folder_comes_from_the_environment_too(tmp_path: Path) -> None:
    """Without --keys, LIENTHONG_KEYS_DIR names the folder (as for the adapter)."""
    old = access_log_key(tmp_path)
    code, output = _rotate(env={"LIENTHONG_KEYS_DIR": str(tmp_path)})
    assert code == 0, output
    assert (tmp_path / RETIRED / f"{key_id(old)}.key").read_bytes() == old


def test_a_missing_key_folder_is_one_error_line(tmp_path: Path) -> None:
    """A folder that does not exist: exit 1, one line saying so, and no folder made."""
    missing = tmp_path / "nowhere"
    code, output = _rotate("--keys", str(missing))
    assert code == 1
    assert output.strip() == (
        f"Error: no key folder at {missing} (give --keys or set LIENTHONG_KEYS_DIR)"
    )
    assert not missing.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("absent", "cannot read key file"),
        ("short", "must hold exactly 32 bytes"),
        ("directory", "cannot read key file"),
    ],
)
def test_an_unreadable_key_is_one_error_line_and_nothing_changes(
    tmp_path: Path, damage: str, message: str
) -> None:
    """No key, a key of the wrong size or a key path that cannot be read as a file: exit 1, one
    ``Error:`` line naming the file, no retired folder made and the key file left as it was."""
    key = tmp_path / CURRENT
    key.parent.mkdir(parents=True)
    if damage == "short":
        key.write_bytes(b"k" * 31)
    elif damage == "directory":
        key.mkdir()
    code, output = _rotate("--keys", str(tmp_path))
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert str(key) in lines[0]
    assert not (tmp_path / RETIRED).exists()
    if damage == "short":
        assert key.read_bytes() == b"k" * 31
    assert key.exists() == (damage != "absent")
