import os

# Qt tests run without a display; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never touch the user's real config directory from tests.
os.environ.setdefault("RIGBOOK_CONFIG_DIR", os.path.join(os.path.dirname(__file__), ".config-unused"))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RIGBOOK_CONFIG_DIR", str(tmp_path / "rigbook-config"))
    # Nor the user's documents folder, the default storage root.
    monkeypatch.setenv("RIGBOOK_DATA_DIR", str(tmp_path / "rigbook-data"))
