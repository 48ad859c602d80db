"""`one-plot --output` writes a new PNG or its own, never through a link,
never a run's file (issue 37, finding 16)."""

import pathlib

import pytest
from absl.testing import flagsaver

from one_keras.reports import curves
from tests.cli_tools import loaded_tool


ROOT = pathlib.Path(__file__).resolve().parents[1]


def _write_log(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "log.csv").write_text(
        "epoch,loss,val_branch_0_accuracy\n0,1.0,0.5\n1,0.5,0.7\n")
    return path


def _plot(output, *runs):
    with loaded_tool(ROOT / "one_keras" / "cli" / "plot.py",
                     "plot_runs_tool") as tool, \
            flagsaver.flagsaver(output=str(output)):
        tool.main(["one-plot", *map(str, runs)])


def test_one_plot_replaces_its_own_png_through_no_link(tmp_path):
    run = _write_log(tmp_path / "run")
    drawn = tmp_path / "drawn.png"
    _plot(drawn, run)
    assert curves.is_curves_png(drawn)
    linked = tmp_path / "linked.png"
    linked.symlink_to(drawn)
    before = drawn.read_bytes()

    _plot(linked, run)

    assert not linked.is_symlink() and curves.is_curves_png(linked)
    assert drawn.read_bytes() == before


@pytest.mark.parametrize("output, message", [
    ("user.png", "is a file that is not one"),
    ("folder", "must be a PNG file"),
    ("folder.png", "is a directory that is not one"),
    ("cmp", "must be a PNG file"),
    ("other_run/backup/cmp.png", "under backup/ of the training run"),
    ("other_run/curves.png", "curves.png of the training run"),
])
def test_one_plot_refuses_what_it_did_not_draw(tmp_path, output, message):
    run = _write_log(tmp_path / "run")
    (tmp_path / "user.png").write_bytes(b"\x89PNG\r\n\x1a\nmine")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.png").mkdir()
    other = _write_log(tmp_path / "other_run")
    (other / "backup").mkdir()
    (other / "one_keras_run.json").write_text(
        '{"one_keras_run": 1, "files": ["log.csv"]}')
    before = sorted(p.name for p in tmp_path.rglob("*"))

    with pytest.raises(ValueError, match=message):
        _plot(tmp_path / output, run)

    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "user.png").read_bytes().endswith(b"mine")
