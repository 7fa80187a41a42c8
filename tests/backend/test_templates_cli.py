"""`layerloom new`: copy a teaching template, list them, and name close ones on a typo."""

import os
from pathlib import Path

import pytest

from layerloom.backend import templates
from layerloom.backend.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def stems() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.loom"))


# ------------------------------------------------------------ backend.templates
def test_names_are_the_file_stems_of_resources_examples():
    assert templates.template_names() == stems()
    assert len(stems()) >= 20


def test_list_templates_gives_name_title_description_path_in_group_order():
    listed = templates.list_templates()
    assert sorted(t.name for t in listed) == stems()
    for name, title, description, path in listed:
        assert path.name == f"{name}.loom"
        assert path.read_bytes() == (EXAMPLES / f"{name}.loom").read_bytes()
        assert title and description
    ranks = [templates.GROUPS.index(templates.group_of(templates.read_meta(t.name)))
             for t in listed]
    assert ranks == sorted(ranks)
    titles = [t.title for t in listed]
    assert len(set(titles)) == len(titles), "the gallery tells templates apart by title"
    names = [t.name for t in listed]
    # within a group the teaching order holds: the perceptron fails before the MLP succeeds
    assert names.index("perceptron_xor") < names.index("mlp_xor")


def test_template_path_of_an_unknown_name_names_close_ones():
    with pytest.raises(templates.TemplateError) as info:
        templates.template_path("cnn_digit")
    assert "no template 'cnn_digit'" in str(info.value)
    assert "cnn_digits" in str(info.value)


def test_close_names_prefers_names_containing_the_text():
    assert set(templates.close_names("sine")) == {"rnn_sine", "lstm_sine", "gru_sine"}
    assert templates.close_names("zzzz") == []


def test_load_template_builds_a_fresh_graph_each_time():
    a, b = templates.load_template("cnn_digits"), templates.load_template("cnn_digits")
    assert a == b and a is not b
    assert a.dataset["name"] == "digits"


@pytest.mark.parametrize("text, parsed", [
    ("val accuracy >= 97%", [("val accuracy", ">=", 0.97)]),
    ("grad ratio <= 0.01; val accuracy <= 65%",
     [("grad ratio", "<=", 0.01), ("val accuracy", "<=", 0.65)]),
    ("diverges", [("diverges", "", 1.0)]),
    ("test accuracy >= 88%", [("test accuracy", ">=", 0.88)]),
])
def test_parse_expected(text, parsed):
    assert [tuple(c) for c in templates.parse_expected(text)] == parsed


@pytest.mark.parametrize("text, words", [
    ("val accuracy 97%", "METRIC >= NUMBER"),
    ("val acuracy >= 97%", "unknown metric 'val acuracy'"),
    ("val accuracy >= lots", "METRIC >= NUMBER"),
])
def test_parse_expected_refuses_bad_clauses_by_quoting_them(text, words):
    with pytest.raises(ValueError) as info:
        templates.parse_expected(text)
    assert words in str(info.value)


def test_expectation_holds():
    at_least, at_most = templates.parse_expected("val accuracy >= 90%; val loss <= 0.5")
    assert at_least.holds(0.9) and not at_least.holds(0.89) and not at_least.holds(None)
    assert at_most.holds(0.5) and not at_most.holds(0.51)


# ------------------------------------------------------------------ layerloom new
def test_new_copies_the_template_byte_for_byte(tmp_path, capsys):
    target = tmp_path / "mine.loom"
    assert main(["new", "cnn_digits", "-o", str(target)]) == 0
    assert target.read_bytes() == (EXAMPLES / "cnn_digits.loom").read_bytes()
    out = capsys.readouterr().out
    assert f"created {target} from template cnn_digits" in out


def test_new_without_output_writes_name_loom_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "perceptron_xor"]) == 0
    assert (tmp_path / "perceptron_xor.loom").read_bytes() == \
        (EXAMPLES / "perceptron_xor.loom").read_bytes()


def test_new_into_a_folder_uses_the_template_name(tmp_path):
    assert main(["new", "mlp_xor", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "mlp_xor.loom").read_bytes() == (EXAMPLES / "mlp_xor.loom").read_bytes()


def test_new_refuses_to_overwrite_without_force(tmp_path, capsys):
    target = tmp_path / "kept.loom"
    target.write_text("my work")
    assert main(["new", "mlp_xor", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "--force" in err
    assert target.read_text() == "my work"
    assert main(["new", "mlp_xor", "-o", str(target), "--force"]) == 0
    assert target.read_bytes() == (EXAMPLES / "mlp_xor.loom").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["kept.loom"]  # no temporary left


def test_new_into_a_missing_folder_is_one_error_line(tmp_path, capsys):
    target = tmp_path / "nowhere" / "x.loom"
    assert main(["new", "mlp_xor", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and str(tmp_path / "nowhere") in err


def test_new_list_shows_every_name_with_its_title_under_groups(capsys):
    assert main(["new", "--list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for t in templates.list_templates():
        assert any(line.split(None, 1) == [t.name, t.title] for line in lines), t.name
    for group in ("Basics:", "Optimisation:", "Architectures:", "MNIST-1D:"):
        assert group in lines


@pytest.mark.parametrize("name, close", [
    ("cnn_digit", ["cnn_digits"]),
    ("sine", ["gru_sine", "lstm_sine", "rnn_sine"]),
    ("perceptron", ["perceptron_linear", "perceptron_xor"]),
])
def test_new_with_an_unknown_name_is_one_error_line_listing_close_names(name, close, tmp_path, capsys):
    assert main(["new", name, "-o", str(tmp_path / "x.loom")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.count("\n") == 1 and err.startswith(f"error: no template {name!r}")
    for n in close:
        assert n in err
    assert not os.listdir(tmp_path)


def test_new_without_a_name_asks_for_one(capsys):
    assert main(["new"]) == 2
    assert "--list" in capsys.readouterr().err
