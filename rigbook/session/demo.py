"""The built-in demo rig: a simulated larva tracker, a camera, gratings, a swim-vigor estimator.

No hardware is needed: every source is simulated in its own process, so the
demo exercises exactly the path a real rig uses.
"""

from rigbook.session.estimator import SwimVigorEstimator
from rigbook.session.protocol import GratingsProtocol
from rigbook.session.rig import Rig, Source
from rigbook.session.sources import simulated_camera, simulated_tracker
from rigbook.collectors.params import Param, Parametrized
from rigbook.resources import defaults
from rigbook.session.metadata import general_metadata

#: Default sampling rate of the simulated tracker, in Hz (resources/defaults.json).
TRACKER_RATE = float(defaults()["demo_rig"]["tracker_rate"])
#: Goal frame rate of the simulated camera, in frames per second (resources/defaults.json).
CAMERA_FPS = float(defaults()["demo_rig"]["camera_fps"])


def demo_general_metadata(tree):
    """Who ran the experiment where: ``general/experiment``, on the setup "demo rig"."""
    return general_metadata(tree, setup="demo rig")


def animal_metadata(tree):
    """The animal: ``animal/fish``."""
    return Parametrized(
        name="animal/fish",
        tree=tree,
        params=dict(
            species=Param("Danio rerio"),
            genotype=Param("wild type", desc="line or genotype"),
            age=Param(7, limits=[0, 3650], unit="dpf", desc="age in days post fertilization"),
            sex=Param("unknown", limits=["unknown", "female", "male"]),
            comments=Param(""),
        ),
    )


def demo_rig(tracker_rate=TRACKER_RATE, camera_fps=CAMERA_FPS, seed=None):
    """The demo rig.

    Parameters
    ----------
    tracker_rate : float
        Samples per second of the simulated tracker (tail angle, x, y, heading).
    camera_fps : float
        Goal frame rate of the simulated camera.
    seed : int, optional
        Seed of the simulations, for repeatable data.
    """
    return Rig(
        name="demo rig",
        sources=[
            Source(
                name="tracker",
                target=simulated_tracker,
                options=dict(rate=float(tracker_rate), seed=seed),
                goal_rate=float(tracker_rate),
                monitored_headers=["tail_angle", "x", "y", "heading"],
                category="behavior",
                units={"tail_angle": "rad", "x": "mm", "y": "mm", "heading": "rad"},
                descriptions={
                    "tail_angle": "angle of the tail tip to the body axis",
                    "x": "head position in the dish, rightwards from its centre",
                    "y": "head position in the dish, upwards from its centre",
                    "heading": "direction the larva faces, counterclockwise from +x",
                },
            ),
            Source(
                name="camera",
                target=simulated_camera,
                options=dict(goal_fps=float(camera_fps), seed=None if seed is None else seed + 1),
                kind="framerate",
                goal_rate=float(camera_fps),
                category="camera",
                plot=False,
                units={"fps": "Hz"},
                descriptions={"fps": "frames per second over the last report interval"},
            ),
        ],
        protocols={"gratings": GratingsProtocol},
        estimators=[lambda accumulators: SwimVigorEstimator(accumulators, source="tracker")],
        metadata=[demo_general_metadata, animal_metadata],
    )
