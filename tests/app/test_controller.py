"""The controller on its own: a dead source is reported to the user, never silent."""

from rigbook.app.controller import ExperimentController
from rigbook.app.rig import Rig, Source
from tests.app.sources_for_tests import unplugged_camera


def test_a_source_that_dies_is_reported(qtbot):
    rig = Rig(name="flaky rig", sources=[Source("camera", unplugged_camera)])
    controller = ExperimentController(rig, live_view=False)
    messages = []
    controller.message.connect(lambda level, text: messages.append((level, text)))
    try:
        qtbot.waitUntil(lambda: any(level == "error" and "camera stopped" in text for level, text in messages),
                        timeout=30_000)
        assert controller.accumulators["camera"].n_received == 5  # what it sent before dying is kept
    finally:
        controller.shutdown()
