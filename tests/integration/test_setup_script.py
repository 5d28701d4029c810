"""scripts/setup.sh, run for real in a copy of the project.

The copy's .venv is a fresh virtual environment that sees this environment's packages
through a .pth file, so pip finds torch, transformers and the rest installed already and the
run takes seconds instead of downloading gigabytes; replyloop itself is really installed
(editable) into the copy's .venv. pip never uninstalls what lies outside the environment it
installs into, so this environment is left as it was.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP_TIMEOUT_S = 900.0  # pip builds and installs; generous, the machine may be loaded


def project_copy(tmp_path: Path) -> Path:
    """The project's files (all that git does not ignore) in a new folder, with a .venv
    that sees our packages."""
    copy = tmp_path / "project"
    listed = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listed, cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, files.split("\0")):
        source, target = ROOT / name, copy / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    # --upgrade-deps: the pip setup.sh ends up with on a new machine (it upgrades pip before
    # installing torch), not the older one this Python bundles.
    subprocess.run(
        [sys.executable, "-m", "venv", "--upgrade-deps", str(copy / ".venv")],
        check=True,
        capture_output=True,
        timeout=SETUP_TIMEOUT_S,
    )
    venv_site = next((copy / ".venv" / "lib").glob("python*/site-packages"))
    (venv_site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return copy


def setup(copy: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/setup.sh", "dev"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_S,
    )


def test_setup_installs_without_the_editable_warning_box_and_reruns_silently(
    tmp_path: Path,
) -> None:
    copy = project_copy(tmp_path)
    first = setup(copy)
    said = first.stdout + first.stderr
    assert first.returncode == 0, said
    assert "setup: installing replyloop (.[dev])" in said
    assert "Editable installation" not in said, said
    assert "Please be careful with folders" not in said, said
    assert "****" not in said, said
    installed = subprocess.run(
        [str(copy / ".venv" / "bin" / "python"), "-c", "import core; print(core.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert installed.stdout.strip() == str(copy / "core" / "__init__.py")

    again = setup(copy)  # everything is there: nothing to do, nothing to say
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
