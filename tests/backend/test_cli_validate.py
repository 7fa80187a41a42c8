"""`layerloom validate FILE`: a table, and exit 0 / 1 / 2."""

import subprocess
import sys
from pathlib import Path

from layerloom.backend.cli import main
from layerloom.graph import Graph, save_graph
from tests.graph.helpers import chain, mlp

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def test_valid_graph_prints_table_and_totals(tmp_path, capsys):
    path = tmp_path / "m.loom"
    save_graph(mlp(hidden=(16,), inputs=4, classes=3), path)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["node", "type", "output", "shape", "params"]
    assert any(line.split()[:2] == ["dense_1", "Dense"] and line.endswith("80") for line in lines)
    assert "(N, 16)" in out
    assert "total: 4 nodes, 131 parameters" in out


def test_graph_with_errors_exits_1_and_names_nodes(tmp_path, capsys):
    g = Graph()
    chain(g, ("input", {"shape": [10], "dtype": "long"}), "dense", "output")
    path = tmp_path / "bad.loom"
    save_graph(g, path)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: dense_1: dense_1 (Dense): Dense needs float values" in out


def test_unreadable_file_exits_2_with_one_line(tmp_path):
    path = tmp_path / "junk.loom"
    path.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "layerloom.gui.launcher", "validate", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert "junk.loom" in proc.stderr and "Traceback" not in proc.stderr


def test_validate_does_not_import_torch_or_qt(tmp_path):
    path = tmp_path / "m.loom"
    save_graph(mlp(), path)
    code = (
        "import sys; from layerloom.backend.cli import main; rc = main(['validate', sys.argv[1]]);"
        "print('MODULES', 'torch' in sys.modules, 'PySide6' in sys.modules); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "MODULES False False" in proc.stdout


def test_every_example_validates(capsys):
    files = sorted(EXAMPLES.glob("*.loom"))
    assert files
    for path in files:
        assert main(["validate", str(path)]) == 0, capsys.readouterr().out
