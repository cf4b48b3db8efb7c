"""Recovery files of documents open in another running LayerForge are never offered as a
crash's leftovers; once that process dies without cleaning up, they are."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.recovery import pending_recoveries, read_recovery, recovery_dir

OTHER_INSTANCE = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QStandardPaths
    QStandardPaths.setTestModeEnabled(True)
    from app.main import create_application
    from app.recovery import RecoveryFile
    from graph.templates import build_template
    app = create_application()
    recovery = RecoveryFile()
    recovery.write(build_template("hello-mlp"), None)
    print(recovery.path, flush=True)
    sys.stdin.readline()  # an open window with unsaved work, until told to go on
""")


def start_other_instance() -> subprocess.Popen:
    """Another LayerForge with unsaved work; it prints its recovery file's path."""
    return subprocess.Popen([sys.executable, "-c", OTHER_INSTANCE], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ),
                            cwd=os.getcwd())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills a child process")
def test_another_running_instances_autosave_is_not_offered_until_it_dies(isolated_app):
    other = start_other_instance()
    try:
        path = other.stdout.readline().strip()
        assert path.endswith(".json"), f"the other instance did not start: {path!r}"
        assert os.path.dirname(path) == str(recovery_dir())
        assert os.path.exists(path)
        assert pending_recoveries() == []  # it is still running: its work is not ours to take
    finally:
        other.kill()  # a crash: no clean close, the lock stays behind, stale
        other.wait(10)
    recovered = pending_recoveries()
    assert [str(p) for p in recovered] == [path]
    project, original = read_recovery(recovered[0])
    assert original is None and project.graph.find("fc1") is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills a child process")
def test_a_lock_left_by_a_crash_before_any_autosave_is_cleaned_up(isolated_app):
    other = start_other_instance()
    try:
        path = other.stdout.readline().strip()
    finally:
        other.kill()
        other.wait(10)
    lock = Path(path).with_suffix(".lock")
    assert lock.exists()  # the crash left its lock behind
    Path(path).unlink()  # as if it had crashed before its first autosave
    assert pending_recoveries() == []
    assert not lock.exists()  # the orphan lock is gone
