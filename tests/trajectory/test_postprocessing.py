"""Post-processing and pipelines as pypet documents them: results after the runs, expanding, more runs."""

import logging

import pytest

from rigbook.trajectory import pypetconstants as pc
from rigbook.trajectory.environment import Environment
from rigbook.trajectory.runner import ExplorationError
from rigbook.trajectory.trajectory import Trajectory


@pytest.fixture(autouse=True)
def _no_leaked_log_handlers():
    yield
    trajectory_logger = logging.getLogger("rigbook.trajectory")
    for handler in list(trajectory_logger.handlers):
        trajectory_logger.removeHandler(handler)
        handler.close()


def make_env(tmp_path, xs=(0, 1, 2), **options):
    options.setdefault("log_config", None)
    options.setdefault("report_progress", False)
    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), **options)
    traj = env.trajectory
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": list(xs)})
    return env


def square(traj, offset=0):
    traj.f_add_result("z", traj.x * traj.x + offset)
    return traj.x * traj.x + offset


def load(tmp_path):
    traj = Trajectory(filename=str(tmp_path / "post.hdf5"))
    traj.f_load(name="traj", load_parameters=2, load_results=2)
    return traj


def stored_zs(tmp_path):
    return load(tmp_path).f_get_from_runs("z", fast_access=True, use_indices=True)


def test_postprocessing_gets_every_result_by_index_and_its_own_arguments(tmp_path):
    calls = []

    def postproc(traj, results, label, scale=1):
        calls.append((list(results), label, scale))
        traj.f_add_result("summary.total", sum(value for _, value in results) * scale)

    env = make_env(tmp_path)
    env.add_postprocessing(postproc, "sum", scale=10)
    assert env.run(square) == [(0, 0), (1, 1), (2, 4)]
    assert calls == [([(0, 0), (1, 1), (2, 4)], "sum", 10)]
    # What post-processing adds is stored with the trajectory.
    assert load(tmp_path).f_get("summary.total").f_get() == 50


def test_f_add_postprocessing_is_the_same(tmp_path):
    seen = []
    env = make_env(tmp_path)
    env.f_add_postprocessing(lambda traj, results: seen.append(len(results)))
    env.run(square)
    assert seen == [3]


def test_expanding_inside_postprocessing_runs_the_new_runs_and_calls_it_again(tmp_path):
    calls = []

    def postproc(traj, results):
        calls.append([idx for idx, _ in results])
        if len(traj) < 7:
            traj.f_expand({"x": [len(traj) + 10, len(traj) + 11]})

    env = make_env(tmp_path)
    env.add_postprocessing(postproc)
    results = env.run(square)
    # 3 runs, then 2 more twice; the last call does not expand, so it is the end.
    assert calls == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 6]]
    assert results == [(0, 0), (1, 1), (2, 4), (3, 169), (4, 196), (5, 225), (6, 256)]
    traj = load(tmp_path)
    assert len(traj) == 7 and traj.f_is_completed()
    assert stored_zs(tmp_path) == dict(results)
    assert traj.f_get(f"config.environment.{env.name}.postproc_expand").f_get() is True


def test_a_returned_dict_expands_the_trajectory(tmp_path):
    def postproc(traj, results):
        return {"x": [5]} if len(traj) == 3 else None

    env = make_env(tmp_path)
    env.add_postprocessing(postproc)
    assert env.run(square)[-1] == (3, 25)
    assert stored_zs(tmp_path) == {0: 0, 1: 1, 2: 4, 3: 25}


def test_a_returned_tuple_gives_new_arguments_to_runs_and_postprocessing(tmp_path):
    calls = []

    def postproc(traj, results, tag):
        calls.append(tag)
        if len(traj) == 3:
            return {"x": [3, 4]}, (100,), {}, ("second",)
        return None

    env = make_env(tmp_path)
    env.add_postprocessing(postproc, "first")
    results = env.run(square)
    assert results == [(0, 0), (1, 1), (2, 4), (3, 109), (4, 116)]
    assert calls == ["first", "second"]
    assert stored_zs(tmp_path) == dict(results)


def test_expansion_in_multiprocessing_queue_mode(tmp_path):
    def postproc(traj, results):
        if len(traj) == 3:
            traj.f_expand({"x": [7, 8, 9]})

    env = make_env(tmp_path, multiproc=True, ncores=2, wrap_mode=pc.WRAP_MODE_QUEUE)
    env.add_postprocessing(postproc)
    results = env.run(square)
    assert results == [(0, 0), (1, 1), (2, 4), (3, 49), (4, 64), (5, 81)]
    assert stored_zs(tmp_path) == dict(results)


def test_no_postprocessing_when_runs_failed(tmp_path):
    called = []

    def sometimes_fails(traj):
        if traj.x == 1:
            raise ValueError("run 1 breaks")
        return square(traj)

    env = make_env(tmp_path)
    env.add_postprocessing(lambda traj, results: called.append(results))
    with pytest.raises(ExplorationError, match="run 1 breaks"):
        env.run(sometimes_fails)
    assert called == []
    assert stored_zs(tmp_path) == {0: 0, 2: 4}


def test_pipeline_fills_the_trajectory_and_returns_runs_and_postprocessing(tmp_path):
    summary = []

    def postproc(traj, results, factor):
        summary.append(sum(value for _, value in results) * factor)

    def pipeline(traj):
        traj.f_add_parameter("x", 0)
        traj.f_explore({"x": [1, 2, 3]})
        return (square, (), {"offset": 1}), (postproc, (2,))

    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), log_config=None,
                      report_progress=False)
    assert env.pipeline(pipeline) == [(0, 2), (1, 5), (2, 10)]
    assert summary == [34]
    assert stored_zs(tmp_path) == {0: 2, 1: 5, 2: 10}


@pytest.mark.parametrize("returned", [
    lambda: square,
    lambda: (square,),
    lambda: (square, (5,)),
    lambda: (square, (), {"offset": 5}),
    lambda: ((square, (5,)), ()),
])
def test_pipeline_accepts_every_documented_return_shape(tmp_path, returned):
    def pipeline(traj):
        traj.f_add_parameter("x", 0)
        traj.f_explore({"x": [1, 2]})
        return returned()

    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), log_config=None,
                      report_progress=False)
    offset = 0 if returned() in (square, (square,)) else 5
    assert env.pipeline(pipeline) == [(0, 1 + offset), (1, 4 + offset)]


def test_pipeline_map_gives_each_run_its_own_arguments(tmp_path):
    def pipeline(traj):
        traj.f_add_parameter("x", 0)
        traj.f_explore({"x": [1, 2, 3]})
        return square, ([10, 20, 30],)

    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), log_config=None,
                      report_progress=False)
    assert env.pipeline_map(pipeline) == [(0, 11), (1, 24), (2, 39)]


def test_pipeline_map_expanded_by_postprocessing_takes_the_new_runs_arguments(tmp_path):
    def postproc(traj, results):
        if len(traj) == 2:
            return {"x": [5, 6]}, ([500, 600],)
        return None

    def pipeline(traj):
        traj.f_add_parameter("x", 0)
        traj.f_explore({"x": [1, 2]})
        return (square, ([10, 20],)), (postproc,)

    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), log_config=None,
                      report_progress=False)
    assert env.pipeline_map(pipeline) == [(0, 11), (1, 24), (2, 525), (3, 636)]


def test_pipeline_map_expanded_without_new_arguments_is_refused(tmp_path):
    def pipeline(traj):
        traj.f_add_parameter("x", 0)
        traj.f_explore({"x": [1, 2]})
        return (square, ([10, 20],)), (lambda traj, results: {"x": [9]} if len(traj) == 2 else None,)

    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), log_config=None,
                      report_progress=False)
    with pytest.raises(ValueError, match="1 new runs"):
        env.pipeline_map(pipeline)


def test_pipeline_returning_none_or_nonsense_is_refused(tmp_path):
    env = Environment(trajectory="traj", filename=str(tmp_path / "post.hdf5"), log_config=None,
                      report_progress=False)
    with pytest.raises(RuntimeError, match="returned None"):
        env.pipeline(lambda traj: None)
    with pytest.raises(TypeError, match="run step of the pipeline"):
        env.pipeline(lambda traj: (square, (), {}, "fourth"))
    with pytest.raises(TypeError, match="post-processing step"):
        env.pipeline(lambda traj: ((square,), ("not callable",)))
    with pytest.raises(TypeError, match="must be callable"):
        env.add_postprocessing("not a function")


def test_a_failing_postprocessing_raises_and_keeps_what_it_added(tmp_path):
    def postproc(traj, results):
        traj.f_add_result("summary.first", 1)
        raise RuntimeError("analysis broke")

    env = make_env(tmp_path)
    env.add_postprocessing(postproc)
    with pytest.raises(RuntimeError, match="analysis broke"):
        env.run(square)
    traj = load(tmp_path)
    assert traj.f_get("summary.first").f_get() == 1
    assert traj.f_is_completed() and stored_zs(tmp_path) == {0: 0, 1: 1, 2: 4}
