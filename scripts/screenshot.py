"""Take the README's screenshot: the main window recording the demo rig, rendered offscreen.

    .venv/bin/python scripts/screenshot.py [--out docs/main-window.png] [--seconds 5]

Records into a temporary folder (deleted afterwards) with a temporary
settings folder, so neither your data nor your settings are touched.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _run_events(seconds):
    from qtpy import QtCore

    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "main-window.png"))
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of recording before the shot")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["RIGBOOK_CONFIG_DIR"] = os.path.join(scratch, "config")
        from rigbook.app.application import open_window
        from rigbook.session.demo import demo_rig

        window = open_window(demo_rig(seed=7))
        window.resize(1500, 950)
        controller = window.controller
        deadline = time.monotonic() + 30
        while not controller.session.sources_ready() and time.monotonic() < deadline:
            _run_events(0.1)
        window.session_panel.set_values(root=os.path.join(scratch, "data"), subject_id="fish-001",
                                        task_id="gratings-1", formats=["csv", "feather", "parquet"])
        fish = window.editors.editors["animal/fish"]
        fish.set_text("genotype", "elavl3:H2B-GCaMP6s")
        window.session_panel.record_button.click()
        _run_events(args.seconds)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            sys.stderr.write(f"could not write {out}\n")
            return 1
        controller.stop_recording()
        while controller.saving:
            _run_events(0.1)
        controller.shutdown()
    sys.stdout.write(f"wrote {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
