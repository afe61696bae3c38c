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


class BrokenProtocol:
    """A user's protocol with a bug: update() returns a value the log does not know."""

    name = "broken"
    dynamic_fields = ("speed",)
    dynamic_parameters = ["speed"]
    duration = 60.0

    def __init__(self, tree):
        from rigbook.collectors.params import Param, Parametrized

        self.params = Parametrized(name="stimulus/protocol/broken", tree=tree, params={"x": Param(1.0)})
        self.running = False

    def start(self, t):
        self.running = True

    def stop(self):
        self.running = False

    def update(self, t, estimates):
        return {"sped": 1.0}  # typo: not a logged parameter

    def completed_trials(self, t):
        return []

    def finished(self, t):
        return False

    def elapsed(self, t):
        return 0.0

    def progress(self, t):
        return 0.0


def test_a_failing_protocol_is_reported_and_the_recording_goes_on(qtbot, tmp_path):
    from tests.app.sources_for_tests import steady_counter

    rig = Rig(name="buggy rig", sources=[Source("counter", steady_counter)], protocols={"broken": BrokenProtocol})
    controller = ExperimentController(rig, live_view=False)
    messages = []
    controller.message.connect(lambda level, text: messages.append((level, text)))
    try:
        qtbot.waitUntil(controller.sources_ready, timeout=30_000)
        controller.start_recording(root=str(tmp_path), subject_id="s", task_id="t", formats=["csv"])
        qtbot.waitUntil(lambda: any("sped" in text for _, text in messages), timeout=10_000)
        errors = [text for level, text in messages if level == "error"]
        assert len(errors) == 1  # reported once, not at every tick
        rows = controller.accumulators["counter"].n_received
        qtbot.waitUntil(lambda: controller.accumulators["counter"].n_received > rows + 20, timeout=10_000)
        with qtbot.waitSignal(controller.session_saved, timeout=60_000) as saved:
            controller.stop_recording()
        assert (tmp_path / "s" / "t" / "counter.csv").is_file()
        assert saved.args[0].folder == tmp_path / "s" / "t"
    finally:
        controller.shutdown()


def test_a_protocol_saved_by_another_rig_is_not_restored_and_the_user_is_told(qtbot):
    from rigbook.app.demo import demo_rig
    from tests.app.sources_for_tests import steady_counter

    # A rig without protocols saves an empty protocol with the session settings...
    plain = ExperimentController(Rig(name="plain rig", sources=[Source("counter", steady_counter)]), live_view=False)
    plain.session_params.protocol = ""
    plain.shutdown()  # (saves the settings for the next start)
    # ...and the demo rig, started next, uses its own protocol and says why.
    demo = ExperimentController(demo_rig(seed=1), live_view=False)
    try:
        assert demo.session_params.protocol == "gratings"
        assert ("warning", "not restored: general/session/protocol: '' is not a protocol of this rig; "
                           "'gratings' is used") in demo.startup_messages
    finally:
        demo.shutdown()
