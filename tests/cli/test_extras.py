"""Optional parts: without WeasyPrint or Faker installed, dsr says what to install, and the
rest works. Simulated by hiding the packages from the import system in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HIDE = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ImportError("hidden: " + name)
        return None
sys.meta_path.insert(0, Hide())
from dsr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _dsr(hidden: set[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE.format(hidden=hidden), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_weasyprint_pdf_is_refused_with_the_extra_and_json_still_works(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path}/x.db"
    init = _dsr(
        {"weasyprint"},
        "--database-url",
        db,
        "--key-file",
        str(tmp_path / "k"),
        "init",
        cwd=tmp_path,
    )
    assert init.returncode == 0, init.stderr
    common = [
        "--database-url",
        db,
        "--key-file",
        str(tmp_path / "k"),
        "--catalog",
        str(Path(__file__).resolve().parents[2] / "policies"),
    ]
    pdf = _dsr(
        {"weasyprint"},
        *common,
        "access",
        "email=a@example.com",
        "--format",
        "pdf",
        "-o",
        str(tmp_path / "r.pdf"),
        cwd=tmp_path,
    )
    assert pdf.returncode == 1
    assert "pip install 'dsr[pdf]'" in pdf.stderr
    assert "Traceback" not in pdf.stderr
    assert not (tmp_path / "r.pdf").exists()
    listing = _dsr({"weasyprint"}, *common, "request", "list", "--json", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr


def test_without_faker_the_demo_names_its_extra(tmp_path: Path) -> None:
    demo = _dsr({"faker"}, "demo", "--dir", str(tmp_path / "out"), cwd=tmp_path)
    assert demo.returncode == 1
    assert "pip install 'dsr[demo]'" in demo.stderr
    assert "Traceback" not in demo.stderr
