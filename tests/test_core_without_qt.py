"""The core packages (DESIGN.md §1) import with every Qt binding blocked."""

import subprocess
import sys

BLOCK_QT = """
import importlib, sys
class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'pyqtgraph', 'sip'):
            raise ImportError('Qt is blocked: ' + name)
sys.meta_path.insert(0, BlockQt())
for module in ('rigbook', 'rigbook.collectors', 'rigbook.storage', 'rigbook.trajectory'):
    importlib.import_module(module)
qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'qtpy', 'pyqtgraph'))
assert not qt, qt
print('ok')
"""


def test_core_packages_import_with_qt_blocked():
    result = subprocess.run([sys.executable, "-c", BLOCK_QT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blocking_really_blocks_qt():
    probe = BLOCK_QT.split("for module")[0] + "import qtpy\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode != 0
    assert "Qt is blocked" in result.stderr
