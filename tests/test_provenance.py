"""Reports record the code that produced them (`one_keras.reports.provenance`)."""

import os
import subprocess

import pytest

from one_keras.reports import provenance
from one_keras.reports import run_report


def _git(folder, *arguments):
    return subprocess.run(["git", "-C", str(folder), *arguments],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A git work tree holding a package folder `pkg/`, one commit."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit",
         "-q", "-m", "first")
    return tmp_path


def test_a_checkout_records_its_commit_and_a_clean_tree(checkout):
    revision = provenance.revision_of(str(checkout / "pkg"), "9.9")
    assert revision == {"one_keras_version": "9.9",
                        "git_commit": _git(checkout, "rev-parse", "HEAD"),
                        "git_dirty": False}


def test_an_edited_tracked_file_makes_the_tree_dirty(checkout):
    (checkout / "pkg" / "__init__.py").write_text("x = 2\n")
    (checkout / "runs.txt").write_text("untracked output\n")
    assert provenance.revision_of(str(checkout / "pkg"), "9.9")["git_dirty"]


def test_untracked_files_leave_the_tree_clean(checkout):
    (checkout / "runs.txt").write_text("untracked output\n")
    assert not provenance.revision_of(str(checkout / "pkg"),
                                      "9.9")["git_dirty"]


def test_a_package_outside_a_checkout_records_its_version(tmp_path):
    package = tmp_path / "site-packages" / "pkg"
    package.mkdir(parents=True)
    assert provenance.revision_of(str(package), "9.9") == {
        "one_keras_version": "9.9"}


def test_a_package_nested_deeper_in_a_checkout_is_not_its_commit(checkout):
    # e.g. a virtual environment created inside a clone: the installed
    # package is not the clone's code.
    nested = checkout / ".venv" / "lib" / "pkg"
    nested.mkdir(parents=True)
    assert "git_commit" not in provenance.revision_of(str(nested), "9.9")


def test_reports_carry_the_source_revision():
    assert run_report.library_versions()["source"] == \
        provenance.source_revision()
    if os.path.isdir(os.path.join(os.path.dirname(provenance.__file__),
                                  os.pardir, ".git")):
        assert "git_commit" in provenance.source_revision()


def test_the_machine_names_its_processor_and_cores():
    described = provenance.machine()
    assert described.endswith(f", {os.cpu_count()} cores")
    assert len(described) > len(f", {os.cpu_count()} cores")
