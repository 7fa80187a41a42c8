"""``layerloom install-desktop``: the menu entry, the *.loom type and the icon, through
the real command line, into a temporary XDG data folder."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from layerloom.backend.cli.desktop import desktop_entry

ENTRY = Path("applications/layerloom.desktop")
MIME = Path("mime/packages/layerloom.xml")
ICON = Path("icons/hicolor/scalable/apps/layerloom.svg")
MIME_ICON = Path("icons/hicolor/scalable/mimetypes/application-x-layerloom.svg")
NAMESPACE = "{http://www.freedesktop.org/standards/shared-mime-info}"


def layerloom(tmp_path: Path, *args: str, data: str | None = None, prefix=()):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home")}
    if data is not None:
        env["XDG_DATA_HOME"] = data
    return subprocess.run([*prefix, sys.executable, "-m", "layerloom.gui.launcher", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_install_creates_a_missing_data_folder_and_writes_entry_type_and_icon(tmp_path):
    data = tmp_path / "not" / "yet" / "share"
    done = layerloom(tmp_path, "install-desktop", data=str(data))
    assert done.returncode == 0, done.stderr
    assert str(data / ENTRY) in done.stdout
    entry = read_entry(data / ENTRY)
    assert entry["Type"] == "Application" and entry["Name"] == "LayerLoom"
    assert entry["Icon"] == "layerloom" and entry["Terminal"] == "false"
    assert "application/x-layerloom" in entry["MimeType"].split(";")
    command = shlex.split(entry["Exec"])
    assert command[-1] == "%f"
    assert os.access(command[0], os.X_OK), command  # this installation's own launcher
    root = ET.parse(data / MIME).getroot()
    mime = root.find(f"{NAMESPACE}mime-type")
    assert mime.get("type") == "application/x-layerloom"
    assert mime.find(f"{NAMESPACE}glob").get("pattern") == "*.loom"
    assert (data / ICON).read_bytes().startswith(b"<svg") and (data / MIME_ICON).is_file()


def test_the_entry_passes_the_freedesktop_validator(tmp_path):
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-utils is not installed here")
    data = tmp_path / "share"
    assert layerloom(tmp_path, "install-desktop", data=str(data)).returncode == 0
    done = subprocess.run(["desktop-file-validate", str(data / ENTRY)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_desktop_database_knows_loom_files_after_install(tmp_path):
    if shutil.which("update-mime-database") is None:
        pytest.skip("shared-mime-info's update-mime-database is not installed here")
    data = tmp_path / "share"
    assert layerloom(tmp_path, "install-desktop", data=str(data)).returncode == 0
    globs = (data / "mime" / "globs2").read_text(encoding="utf-8")
    assert "application/x-layerloom:*.loom" in globs


def test_install_twice_then_uninstall_removes_everything_it_wrote(tmp_path):
    data = tmp_path / "share"
    assert layerloom(tmp_path, "install-desktop", data=str(data)).returncode == 0
    first = (data / ENTRY).read_bytes()
    assert layerloom(tmp_path, "install-desktop", data=str(data)).returncode == 0
    assert (data / ENTRY).read_bytes() == first
    done = layerloom(tmp_path, "install-desktop", "--uninstall", data=str(data))
    assert done.returncode == 0, done.stderr
    assert "removed 4 file(s)" in done.stdout
    for path in (ENTRY, MIME, ICON, MIME_ICON):
        assert not (data / path).exists()
    again = layerloom(tmp_path, "install-desktop", "--uninstall", data=str(data))
    assert again.returncode == 0 and "no LayerLoom desktop entry" in again.stdout


def test_without_xdg_data_home_the_entry_goes_under_home(tmp_path):
    for data in (None, "relative/share"):  # the spec ignores a relative XDG_DATA_HOME
        done = layerloom(tmp_path, "install-desktop", data=data)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "home" / ".local" / "share" / ENTRY).is_file()
    assert not (tmp_path / "relative").exists()


def _without_write_rights():
    """A prefix that makes the command obey file permissions: root normally ignores
    them, so it runs without the capabilities that let it."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner")


def test_a_folder_without_write_permission_gives_one_line(tmp_path):
    data = tmp_path / "locked"
    data.mkdir()
    data.chmod(0o500)
    try:
        done = layerloom(tmp_path, "install-desktop", data=str(data), prefix=_without_write_rights())
    finally:
        data.chmod(0o700)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no permission to write to"), done.stderr
    assert "Traceback" not in done.stderr
    assert not any(data.iterdir())


def test_a_file_in_the_way_gives_one_line(tmp_path):
    blocker = tmp_path / "share"
    blocker.write_text("not a folder")
    done = layerloom(tmp_path, "install-desktop", data=str(blocker))
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot write to") and len(done.stderr.splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_exec_quotes_paths_with_spaces_and_percent_signs():
    entry = desktop_entry(["/opt/my apps/100%/layerloom"])
    (line,) = [line for line in entry.splitlines() if line.startswith("Exec=")]
    assert line == 'Exec="/opt/my apps/100%%/layerloom" %f'
    assert desktop_entry(["/usr/bin/layerloom"]).count("Exec=/usr/bin/layerloom %f") == 1


def test_version_and_help_name_the_command(tmp_path):
    done = layerloom(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.startswith("LayerLoom ")
    listed = layerloom(tmp_path, "--help")
    assert "install-desktop" in listed.stdout
