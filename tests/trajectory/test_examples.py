"""pypet's published examples, written again with only the imports pointed at rigbook.trajectory.

Each scenario follows one example's steps; the printed lines are compared
with what pypet prints for the same steps (worked out from the inputs, which
are deterministic).
"""

import os

import numpy as np
import pytest

from rigbook.trajectory import Environment, NotUniqueNodeError, Trajectory, cartesian_product, pypetconstants


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # The examples write hdf5/ and logs/ relative to where they run.
    monkeypatch.chdir(tmp_path)


def printed(capsys):
    return capsys.readouterr().out.splitlines()


def multiply(traj):
    z = traj.x * traj.y
    traj.f_add_result("z", z, comment="Result of our simulation!")


def multiply_named(traj):
    z = traj.x * traj.y
    traj.f_add_result("z", z=z, comment="I am the product of two reals!")


def test_example_01_first_steps(capsys):
    filename = os.path.join("hdf5", "example_01.hdf5")
    env = Environment(trajectory="Multiplication", filename=filename, overwrite_file=True,
                      file_title="Example_01_First_Steps", comment="The first example!",
                      large_overview_tables=True)
    traj = env.trajectory
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1, comment="I am the second dimension!")
    traj.f_explore(cartesian_product({"x": [1, 2, 3, 4], "y": [6, 7, 8]}))
    env.run(multiply)
    del traj
    env.disable_logging()
    del env

    traj = Trajectory(filename=filename)
    traj.f_load(index=-1, load_parameters=2, load_results=2)
    print("The result of `run_00000001` is: ")
    print(traj.run_00000001.z)

    assert printed(capsys) == ["The result of `run_00000001` is: ", "7"]


def test_example_02_trajectory_access_and_storage(capsys):
    filename = os.path.join("hdf5", "example_02.hdf5")
    traj = Trajectory("Example", filename=filename, overwrite_file=True, comment="Access and Storage!")
    traj.f_add_parameter("starwars.characters.han_solo", "Harrison Ford")
    characters = traj.parameters.starwars.characters
    characters = traj.characters
    characters = traj.f_get("characters")
    characters = traj["characters"]
    characters.f_add_parameter("luke_skywalker", "Mark Hamill", comment="May the force be with you!")
    print("The full name of the new Skywalker Parameter is %s" % traj.f_get("luke_skywalker").v_full_name)
    traj.f_add_parameter_group("spaceballs.characters")
    try:
        traj.characters
    except NotUniqueNodeError as exc:
        print("Damn it, there are two characters groups in the trajectory: %s" % repr(exc))
    characters = traj.starwars.characters
    print("The name of the actor playing Luke is %s." % traj.luke_skywalker)
    traj.v_fast_access = False
    print("The object found for luke_skywalker is `%s`." % str(traj.luke_skywalker))
    traj.f_store()
    traj.f_add_result("starwars.gross_income_of_film", amount=10.1 ** 11, currency="$$$",
                      comment="George Lucas is rich, dude!")
    traj.f_store_item("gross_income_of_film")
    traj.gross_income_of_film.f_empty()
    traj.func.add_result("starwars.robots", c3p0="android", r2d2="beeep!", comment="Help me Obiwan!")
    print(traj.results.starwars.robots.vars.comment)
    del traj
    traj = Trajectory(filename=filename)
    traj.f_load(index=-1, load_parameters=2, load_results=1)
    if traj.gross_income_of_film.f_is_empty():
        print("Nothing there!")
    else:
        print("I found something!")
    traj.f_load_item("gross_income_of_film")
    if traj.gross_income_of_film.f_is_empty():
        print("Still empty :-(")
    else:
        print("George Lucas earned %s%s!" % (str(traj.gross_income_of_film.amount),
                                             traj.gross_income_of_film.currency))

    lines = printed(capsys)
    assert lines[0] == "The full name of the new Skywalker Parameter is parameters.starwars.characters.luke_skywalker"
    assert lines[1].startswith("Damn it, there are two characters groups in the trajectory: NotUniqueNodeError(")
    assert "characters" in lines[1]
    assert lines[2] == "The name of the actor playing Luke is Mark Hamill."
    # pypet prints the parameter object itself: class, full name, comment and value (the exact
    # punctuation differs between pypet versions; test_example_02_prints_a_parameter_as_pypet_does pins ours).
    assert lines[3].startswith("The object found for luke_skywalker is `") and "Parameter" in lines[3]
    assert "parameters.starwars.characters.luke_skywalker (`May the force be with you!`)" in lines[3]
    assert "Mark Hamill" in lines[3]
    assert lines[4:] == ["Help me Obiwan!", "Nothing there!", "George Lucas earned %s$$$!" % str(10.1 ** 11)]


def test_example_03_trajectory_merging(capsys):
    filename = os.path.join("hdf5", "example_03.hdf5")
    env1 = Environment(trajectory="Traj1", filename=filename, file_title="Example_03", add_time=True,
                       comment="I will be increased!")
    env2 = Environment(trajectory="Traj2", filename=filename, file_title="Example_03", log_config=None,
                       add_time=True, comment="I am going to be merged into some other trajectory!")
    traj1 = env1.trajectory
    traj2 = env2.trajectory
    for traj in (traj1, traj2):
        traj.f_add_parameter("x", 1.0, comment="I am the first dimension!")
        traj.f_add_parameter("y", 1.0, comment="I am the second dimension!")
    traj1.f_explore(cartesian_product({"x": [1.0, 2.0, 3.0, 4.0], "y": [6.0, 7.0, 8.0]}))
    traj2.f_explore(cartesian_product({"x": [3.0, 4.0, 5.0, 6.0], "y": [7.0, 8.0, 9.0]}))
    env1.run(multiply_named)
    env2.run(multiply_named)
    traj1.f_merge(traj2, remove_duplicates=True, backup_filename=True, move_data=True,
                  delete_other_trajectory=True)
    traj1.f_load(load_parameters=2, load_results=2)
    for run_name in traj1.f_get_run_names():
        traj1.f_set_crun(run_name)
        x = traj1.x
        y = traj1.y
        z = traj1.crun.z
        print("%s: x=%f, y=%f, z=%f" % (run_name, x, y, z))
    traj1.f_restore_default()
    env1.disable_logging()

    points = [(x, y) for x in (1.0, 2.0, 3.0, 4.0) for y in (6.0, 7.0, 8.0)]
    points += [(x, y) for x in (3.0, 4.0, 5.0, 6.0) for y in (7.0, 8.0, 9.0) if (x, y) not in points]
    expected = ["run_%08d: x=%f, y=%f, z=%f" % (i, x, y, x * y) for i, (x, y) in enumerate(points)]
    assert len(expected) == 20
    assert printed(capsys) == expected


@pytest.mark.parametrize("wrap_mode", [pypetconstants.WRAP_MODE_QUEUE, pypetconstants.WRAP_MODE_LOCK])
def test_example_04_multiprocessing(wrap_mode, capsys):
    filename = os.path.join("hdf5", "example_04.hdf5")
    env = Environment(trajectory="Example_04_MP", filename=filename, file_title="Example_04_MP",
                      log_stdout=True, comment="Multiprocessing example!", multiproc=True, ncores=2,
                      use_pool=True, freeze_input=True, wrap_mode=wrap_mode, graceful_exit=True,
                      overwrite_file=True)
    traj = env.trajectory
    traj.f_add_parameter("x", 1.0, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1.0, comment="I am the second dimension!")
    traj.f_explore(cartesian_product({"x": [float(x) for x in range(20)], "y": [float(y) for y in range(20)]}))
    env.run(multiply_named)
    env.disable_logging()
    # pypet's example prints nothing; it leaves 400 stored runs behind.
    assert printed(capsys) == []

    loaded = Trajectory(filename=filename)
    loaded.f_load(index=-1, load_parameters=2, load_results=2)
    assert len(loaded) == 400 and loaded.f_is_completed()
    zs = loaded.f_get_from_runs("z", fast_access=True, use_indices=True)
    assert zs == {i: float((i // 20) * (i % 20)) for i in range(400)}


def diff_lorenz(value_array, sigma, beta, rho):
    diff_array = np.zeros(3)
    diff_array[0] = sigma * (value_array[1] - value_array[0])
    diff_array[1] = value_array[0] * (rho - value_array[2]) - value_array[1]
    diff_array[2] = value_array[0] * value_array[1] - beta * value_array[2]
    return diff_array


def diff_roessler(value_array, a, c):
    b = a
    diff_array = np.zeros(3)
    diff_array[0] = -value_array[1] - value_array[2]
    diff_array[1] = value_array[0] + a * value_array[1]
    diff_array[2] = b + value_array[2] * (value_array[0] - c)
    return diff_array


def euler_scheme(traj, diff_func):
    steps = traj.steps
    initial_conditions = traj.initial_conditions
    dimension = len(initial_conditions)
    result_array = np.zeros((steps, dimension))
    func_params_dict = traj.func_params.f_to_dict(short_names=True, fast_access=True)
    result_array[0] = initial_conditions
    for idx in range(1, steps):
        result_array[idx] = diff_func(result_array[idx - 1], **func_params_dict) * traj.dt + result_array[idx - 1]
    traj.f_add_result("euler_evolution", data=result_array, comment="Our time series data!")


def add_parameters(traj):
    traj.f_add_parameter("steps", 100, comment="Number of time steps to simulate")
    traj.f_add_parameter("dt", 0.01, comment="Step size")
    traj.f_add_parameter("initial_conditions", np.array([0.0, 0.0, 0.0]), comment="Start from the origin")
    traj.f_add_parameter("diff_name", "diff_lorenz", comment="Name of our differential equation")
    if traj.diff_name == "diff_lorenz":
        traj.f_add_parameter("func_params.sigma", 10.0)
        traj.f_add_parameter("func_params.beta", 8.0 / 3.0)
        traj.f_add_parameter("func_params.rho", 28.0)
    elif traj.diff_name == "diff_roessler":
        traj.f_add_parameter("func_params.a", 0.1)
        traj.f_add_parameter("func_params.c", 14.0)
    else:
        raise ValueError("I don't know what %s is." % traj.diff_name)


def test_example_06_parameter_presetting(capsys):
    filename = os.path.join("hdf5", "example_06.hdf5")
    env = Environment(trajectory="Example_06_Euler_Integration", filename=filename,
                      file_title="Example_06_Euler_Integration", overwrite_file=True, comment="Go for Euler!")
    traj = env.trajectory
    traj.f_preset_parameter("diff_name", "diff_roessler")
    add_parameters(traj)
    diff_eq = diff_roessler if traj.diff_name == "diff_roessler" else diff_lorenz
    print("Simulating %s with parameters %s" % (traj.diff_name, sorted(traj.func_params.f_to_dict(short_names=True))))
    conditions = [np.array([0.01, 0.01, 0.01]), np.array([2.02, 0.02, 0.02]), np.array([42.0, 4.2, 0.42])]
    traj.f_explore({"initial_conditions": conditions})
    env.run(euler_scheme, diff_eq)
    traj.f_load_skeleton()
    for idx, run_name in enumerate(traj.f_get_run_names()):
        euler_result = traj.results.f_get(run_name).euler_evolution
        traj.f_load_item(euler_result)
        print("%s ends at %s" % (run_name, np.array2string(euler_result.data[-1], precision=6)))
        euler_result.f_empty()
    env.disable_logging()

    # The same integration done directly: what pypet's run stores for each initial condition.
    expected = ["Simulating diff_roessler with parameters ['a', 'c']"]
    for idx, start in enumerate(conditions):
        point = start.copy()
        for _ in range(1, 100):
            point = diff_roessler(point, a=0.1, c=14.0) * 0.01 + point
        expected.append("run_%08d ends at %s" % (idx, np.array2string(point, precision=6)))
    assert printed(capsys) == expected


def test_example_08_f_find_idx(capsys):
    filename = os.path.join("hdf5", "example_08.hdf5")
    env = Environment(trajectory="Example08", filename=filename, file_title="Example08",
                      overwrite_file=True, comment="Another example!")
    traj = env.trajectory
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1, comment="I am the second dimension!")
    traj.f_explore(cartesian_product({"x": [1, 2, 3, 4], "y": [6, 7, 8]}))
    env.run(multiply)
    traj.f_load(load_results=pypetconstants.LOAD_DATA)
    my_filter_predicate = lambda x, y: x == 2 or y == 8  # noqa: E731
    idx_iterator = traj.f_find_idx(["x", "y"], my_filter_predicate)
    print("The run names and results for parameter combinations with x==2 or y==8:")
    for idx in idx_iterator:
        traj.v_idx = idx
        run_name = traj.v_crun
        print("%s: x=%d, y=%d, z=%d" % (run_name, traj.x, traj.y, traj.crun.z))
    traj.f_restore_default()
    env.disable_logging()

    assert printed(capsys) == [
        "The run names and results for parameter combinations with x==2 or y==8:",
        "run_00000002: x=1, y=8, z=8",
        "run_00000003: x=2, y=6, z=12",
        "run_00000004: x=2, y=7, z=14",
        "run_00000005: x=2, y=8, z=16",
        "run_00000008: x=3, y=8, z=24",
        "run_00000011: x=4, y=8, z=32",
    ]


def test_example_10_get_items_from_all_runs(capsys):
    filename = os.path.join("hdf5", "example_10.hdf5")
    env = Environment(trajectory="Example10", filename=filename, file_title="Example10",
                      overwrite_file=True, comment="Another example!")
    traj = env.trajectory
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1, comment="I am the second dimension!")
    x_length = 12
    y_length = 12
    traj.f_explore(cartesian_product({"x": range(x_length), "y": range(y_length)}))
    env.run(multiply)
    traj.f_load(load_results=pypetconstants.LOAD_DATA)
    xs = traj.f_get("x").f_get_range()
    ys = traj.f_get("y").f_get_range()
    zs = list(traj.f_get_from_runs(name="z", fast_access=True).values())
    x_mesh = np.reshape(np.array(xs), (x_length, y_length))
    y_mesh = np.reshape(np.array(ys), (x_length, y_length))
    z_mesh = np.reshape(np.array(zs), (x_length, y_length))
    # pypet's example plots the mesh; print its corners and diagonal instead.
    print(z_mesh[0, 0], z_mesh[11, 11], z_mesh[3, 5], np.diag(z_mesh).tolist())
    env.disable_logging()

    assert np.array_equal(z_mesh, x_mesh * y_mesh)
    assert np.array_equal(z_mesh, np.outer(np.arange(12), np.arange(12)))
    assert printed(capsys) == ["0 121 15 %s" % [i * i for i in range(12)]]


def test_example_02_prints_a_parameter_as_pypet_does():
    traj = Trajectory("Example", add_time=False)
    traj.f_add_parameter("starwars.characters.luke_skywalker", "Mark Hamill", comment="May the force be with you!")
    traj.v_fast_access = False
    assert str(traj.luke_skywalker) == (
        "Parameter parameters.starwars.characters.luke_skywalker (`May the force be with you!`): 'Mark Hamill'")
    assert repr(traj.luke_skywalker) == f"<{traj.luke_skywalker}>"
    traj.f_add_parameter("ships", 1, comment="")
    traj.f_explore({"ships": [1, 2, 3]})
    assert str(traj.f_get("ships")) == "Parameter parameters.ships (len:3): 1"
