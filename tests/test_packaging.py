"""The wheel holds one import package, and the installed LayerLoom runs from anywhere.

One wheel is built from a copy of the project's files (so the checkout stays clean
and nothing outside the packaged folders is needed), then installed with
``--no-deps`` into a fresh virtual environment that sees this environment's
dependencies (torch, PySide6, ...) but not the checkout. Every check runs from a
folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("graph", "backend", "gui", "resources")
PROJECT_FILES = ("pyproject.toml", "README.md")
TIMEOUT = 300


def _copy_project(target: Path) -> Path:
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, target / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, target / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = _copy_project(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=TIMEOUT,
    )
    (built,) = out.glob("layerloom-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """A fresh venv with the wheel; this environment's packages reach it through a
    path file (read as a plain path: this environment's own path files, among them
    the editable install's, are not run there, so the checkout stays invisible)."""
    home = tmp_path_factory.mktemp("installed")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=TIMEOUT)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=TIMEOUT).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        check=True, capture_output=True, text=True, timeout=TIMEOUT,
    )
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_RUNTIME_DIR": str(home),
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return {"python": python, "site": site, "bin": venv / "bin", "cwd": elsewhere, "env": env}


def _run(installed, *command, **extra_env) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=installed["cwd"],
                          env={**installed["env"], **extra_env}, capture_output=True,
                          text=True, timeout=TIMEOUT)


def test_wheel_holds_only_the_layerloom_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"layerloom", "layerloom-0.1.0.dist-info"}, sorted(tops)
    assert not any(name == "layerloom/__init__.py" for name in names)  # a namespace package


def test_wheel_holds_every_package_and_every_runtime_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            relative = path.relative_to(ROOT).as_posix()
            if f"layerloom/{relative}" not in names:
                missing.append(relative)
    assert not missing, f"not in the wheel (add the package or data to pyproject.toml): {missing}"


def test_pyproject_lists_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        "layerloom." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
    }
    assert listed == on_disk


def test_installed_package_is_imported_from_the_environment_not_the_checkout(installed):
    code = (
        "import json, importlib, pkgutil, layerloom, layerloom.graph, layerloom.backend,"
        " layerloom.resources\n"
        "found = [m.name for p in ('graph', 'backend', 'resources')"
        " for m in pkgutil.walk_packages(importlib.import_module('layerloom.' + p).__path__,"
        " 'layerloom.' + p + '.')]\n"
        "for name in found:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({'graph': layerloom.graph.__file__, 'count': len(found),"
        " 'examples': str(layerloom.resources.examples_dir())}))\n"
    )
    done = _run(installed, installed["python"], "-c", code)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    site = str(installed["site"])
    assert report["graph"].startswith(site) and report["examples"].startswith(site)
    assert report["count"] > 50
    for folder in FOLDERS:  # the checkout's folder names are not importable there
        assert _run(installed, installed["python"], "-c", f"import {folder}").returncode != 0


def test_version_comes_from_the_package_metadata(installed):
    done = _run(installed, installed["bin"] / "layerloom", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LayerLoom 0.1.0"


def test_validate_a_packaged_example(installed):
    example = installed["site"] / "layerloom" / "resources" / "examples" / "mlp_two_moons.loom"
    done = _run(installed, installed["bin"] / "layerloom", "validate", example)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout.lower()


PROBE = r"""
import json, sys
import layerloom.gui.app as app_module

def probe(app, window):
    for _ in range(40):
        app.processEvents()
    print(json.dumps({
        "visible": window.isVisible(), "title": window.windowTitle(), "nodes": len(window.graph),
        "stylesheet": len(app.styleSheet()), "icon": not app.windowIcon().isNull(),
        "module": app_module.__file__,
    }))
    window.close()
    return 0

app_module._exec = probe
sys.exit(app_module.run_app([]))
"""


def test_installed_app_opens_its_sample_offscreen(installed):
    done = _run(installed, installed["python"], "-c", PROBE, QT_QPA_PLATFORM="offscreen")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["visible"] and report["nodes"] > 0, report
    assert report["stylesheet"] > 0 and report["icon"]
    assert report["module"].startswith(str(installed["site"]))


def test_installed_launcher_runs_the_app_until_stopped(installed):
    process = subprocess.Popen(
        [str(installed["bin"] / "layerloom")], cwd=installed["cwd"],
        env={**installed["env"], "QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=8)  # still running: the window is up, not crashed
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr and "error" not in stderr.lower(), stderr
