"""The metadata editors every rig can use: who ran the session, on which setup, notes."""

from rigbook.collectors.params import Param, Parametrized


def general_metadata(tree, setup=None):
    """``general/experiment``: experimenter and notes, and the setup's name when ``setup`` is given.

    A rig without a ``general/...`` editor of its own gets this one, so that
    every session can say who ran it.
    """
    params = dict(experimenter=Param("", desc="who runs the session"))
    if setup is not None:
        params["setup"] = Param(str(setup), desc="name of the setup")
    params["notes"] = Param("", desc="free-text notes for this session")
    return Parametrized(name="general/experiment", tree=tree, params=params)
