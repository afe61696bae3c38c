"""Random sequences of adding, storing, overwriting and deleting run results agree with a model."""

import shutil
import tempfile

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rigbook.trajectory import Trajectory

from .helpers import assert_same

N_RUNS = 4
small_values = st.one_of(
    st.integers(-5, 5), st.floats(allow_nan=False, width=32), st.text(max_size=3), st.none(),
    st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=2), st.integers(0, 9), max_size=2),
    st.integers(1, 3).map(lambda n: np.arange(n, dtype=np.int16)),
)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="rigbook-stateful-")
        self.filename = f"{self.folder}/s.hdf5"
        self.traj = Trajectory("s", add_time=False, filename=self.filename)
        self.traj.f_add_parameter("i", 0)
        self.traj.f_explore({"i": list(range(N_RUNS))})
        self.traj.f_store()
        self.memory = {}
        self.disk = {}

    def teardown(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(idx=st.integers(0, N_RUNS - 1), name=st.sampled_from(["a", "b"]), value=small_values)
    def add(self, idx, name, value):
        if (idx, name) in self.memory:
            return
        self.traj.f_set_crun(idx)
        self.traj.f_add_result(name, value)
        self.traj.f_restore_default()
        self.memory[(idx, name)] = value

    @rule()
    def store(self):
        self.traj.f_store()
        self.disk = dict(self.memory)

    @precondition(lambda self: self.disk)
    @rule(data=st.data(), value=small_values)
    def overwrite(self, data, value):
        idx, name = data.draw(st.sampled_from(sorted(self.disk, key=str)))
        leaf = self.traj.f_get(f"results.runs.run_{idx:08d}.{name}")
        leaf.f_set(value)
        self.traj.f_store_item(leaf, overwrite=True)
        self.memory[(idx, name)] = self.disk[(idx, name)] = value

    @precondition(lambda self: self.disk)
    @rule(data=st.data())
    def delete(self, data):
        idx, name = data.draw(st.sampled_from(sorted(self.disk, key=str)))
        self.traj.f_delete_item(f"results.runs.run_{idx:08d}.{name}", remove_from_trajectory=True)
        del self.disk[(idx, name)]
        del self.memory[(idx, name)]

    @invariant()
    def file_matches_model(self):
        loaded = Trajectory(filename=self.filename)
        loaded.f_load(name="s", load_all=2)
        found = {}
        for name in ("a", "b"):
            for idx, leaf in loaded.f_get_from_runs(name, use_indices=True).items():
                found[(idx, name)] = leaf.f_get()
        assert sorted(found, key=str) == sorted(self.disk, key=str)
        for key, value in self.disk.items():
            assert_same(value, found[key], str(key))


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=25, stateful_step_count=12, deadline=None)
