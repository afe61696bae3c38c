"""pypet's examples 05 and 13 to 18, written again with the imports pointed at rigbook.trajectory.

As in test_examples.py, each scenario follows one example's steps and the
printed lines are compared with what pypet prints for the same steps, worked
out from the (deterministic) inputs. Where an example plots, the test prints
the numbers the plot would show. Scenarios that need behaviour of the
trajectory model that pypet 0.6.1 itself lacks are not tested (its examples' lazy adding is gone).
"""

import inspect
import logging
import multiprocessing as mp
import os

import numpy as np
import pandas as pd
import pytest

from rigbook.trajectory import (
    ArrayParameter,
    Environment,
    MultiprocContext,
    Parameter,
    Trajectory,
    cartesian_product,
    progressbar,
)

@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # The examples write hdf5/ and logs/ relative to where they run.
    monkeypatch.chdir(tmp_path)
    yield
    trajectory_logger = logging.getLogger("rigbook.trajectory")
    for handler in list(trajectory_logger.handlers):
        trajectory_logger.removeHandler(handler)
        handler.close()


def printed(capsys):
    return capsys.readouterr().out.splitlines()


# ---------------------------------------------------------------- example 05: a custom parameter


class FunctionParameter(Parameter):
    """Keeps the source code of a function (pypet example 05's own parameter class)."""

    def _convert_data(self, val):
        if callable(val):
            return inspect.getsource(val)
        return super()._convert_data(val)


def diff_lorenz(value_array, sigma, beta, rho):
    diff_array = np.zeros(3)
    diff_array[0] = sigma * (value_array[1] - value_array[0])
    diff_array[1] = value_array[0] * (rho - value_array[2]) - value_array[1]
    diff_array[2] = value_array[0] * value_array[1] - beta * value_array[2]
    return diff_array


def euler_scheme(traj, diff_func):
    steps = traj.steps
    initial_conditions = traj.initial_conditions
    result_array = np.zeros((steps, len(initial_conditions)))
    func_params_dict = traj.func_params.f_to_dict(short_names=True, fast_access=True)
    result_array[0] = initial_conditions
    for idx in range(1, steps):
        result_array[idx] = diff_func(result_array[idx - 1], **func_params_dict) * traj.dt + result_array[idx - 1]
    traj.f_add_result("euler_evolution", data=result_array, comment="Our time series data!")


def test_example_05_custom_parameter(capsys):
    filename = "experiments/example_05/HDF5/example_05.hdf5"
    env = Environment(trajectory="Example_05_Euler_Integration", filename=filename,
                      file_title="Example_05_Euler_Integration", log_folder="experiments/example_05/LOGS/",
                      comment="Go for Euler!")
    traj = env.v_trajectory
    trajectory_name = traj.v_name
    traj.f_add_parameter("steps", 1000, comment="Number of time steps to simulate")
    traj.f_add_parameter("dt", 0.01, comment="Step size")
    traj.f_add_parameter(ArrayParameter, "initial_conditions", np.array([0.0, 0.0, 0.0]),
                         comment="Our initial conditions, as default we will start from origin!")
    traj.f_add_parameter("func_params.sigma", 10.0)
    traj.f_add_parameter("func_params.beta", 8.0 / 3.0)
    traj.f_add_parameter("func_params.rho", 28.0)
    traj.func_params.v_annotations.info = "The original values chosen by Edward Lorenz in 1963"
    traj.f_add_derived_parameter(FunctionParameter, "diff_eq", diff_lorenz, comment="Source code of our equation!")
    conditions = [np.array([0.01, 0.01, 0.01]), np.array([2.02, 0.02, 0.02]), np.array([42.0, 4.2, 0.42])]
    traj.f_explore({"initial_conditions": conditions})
    env.f_run(euler_scheme, diff_lorenz)
    env.f_disable_logging()

    del traj
    traj = Trajectory(filename=filename)
    try:
        # The trajectory does not know how to build a FunctionParameter yet.
        traj.f_load(name=trajectory_name, load_parameters=2, load_derived_parameters=2, load_results=1)
    except ImportError:
        print("That did'nt work, I am sorry.")
        traj = Trajectory(filename=filename, dynamically_imported_classes=FunctionParameter)
        traj.f_load(name=trajectory_name, load_parameters=2, load_derived_parameters=2, load_results=1)
    print("\n ---------- The source code of your function ---------- \n %s" % traj.diff_eq)
    exploration = traj.f_get("initial_conditions").f_get_range()
    for idx, run_name in enumerate(traj.f_get_run_names()):
        euler_result = traj.results.f_get(run_name).euler_evolution
        traj.f_load_item(euler_result)
        print("%s from %s ends at %s" % (run_name, exploration[idx], np.array2string(euler_result.data[-1],
                                                                                     precision=6)))
        euler_result.f_empty()

    expected = ["That did'nt work, I am sorry.", ""]
    # The source ends with a newline and print adds one: an empty line follows it, in pypet too.
    expected += ("\n ---------- The source code of your function ---------- \n %s\n"
                 % inspect.getsource(diff_lorenz)).splitlines()[1:]
    for idx, start in enumerate(conditions):
        point = start.copy()
        for _ in range(1, 1000):
            point = diff_lorenz(point, sigma=10.0, beta=8.0 / 3.0, rho=28.0) * 0.01 + point
        expected.append("run_%08d from %s ends at %s" % (idx, start, np.array2string(point, precision=6)))
    assert printed(capsys) == expected


# ---------------------------------------------------------------- example 13: post-processing and pipelines


def run_neuron(traj):
    V_init = traj.par.neuron.V_init
    I = traj.par.neuron.I  # noqa: E741 (pypet's example names the current I)
    tau_V = traj.par.neuron.tau_V
    tau_ref = traj.par.neuron.tau_ref
    dt = traj.par.simulation.dt
    duration = traj.par.simulation.duration
    steps = int(duration / float(dt))
    V_array = np.zeros(steps)
    V_array[0] = V_init
    spiketimes = []
    print("Starting Euler Integration")
    for step in range(1, steps):
        if V_array[step - 1] >= 1:
            V_array[step] = 0
            spiketimes.append((step - 1) * dt)
        elif spiketimes and step * dt - spiketimes[-1] <= tau_ref:
            V_array[step] = 0
        else:
            dV = -1 / tau_V * V_array[step - 1] + I
            V_array[step] = V_array[step - 1] + dV * dt
    print("Finished Euler Integration")
    traj.f_add_result("neuron.$", V=V_array, nspikes=len(spiketimes),
                      comment="Contains the development of the membrane potential over time "
                              "as well as the number of spikes.")
    return len(spiketimes) / float(traj.par.simulation.duration) * 1000


def neuron_postproc(traj, result_list):
    I_range = traj.par.neuron.f_get("I").f_get_range()
    ref_range = traj.par.neuron.f_get("tau_ref").f_get_range()
    rates_frame = pd.DataFrame(columns=sorted(set(ref_range)), index=sorted(set(I_range)))
    for run_idx, firing_rate in result_list:
        rates_frame.loc[I_range[run_idx], ref_range[run_idx]] = firing_rate
    traj.f_add_result("summary.firing_rates", rates_frame=rates_frame,
                      comment="Contains a pandas data frame with all firing rates.")


def add_neuron_parameters(traj):
    print("Adding Results")
    traj.f_add_parameter("neuron.V_init", 0.0, comment="The initial condition for the membrane potential")
    traj.f_add_parameter("neuron.I", 0.0, comment="The externally applied current.")
    traj.f_add_parameter("neuron.tau_V", 10.0, comment="The membrane time constant in milliseconds")
    traj.f_add_parameter("neuron.tau_ref", 5.0, comment="The refractory period in milliseconds")
    traj.f_add_parameter("simulation.duration", 1000.0, comment="The duration of the experiment in milliseconds.")
    traj.f_add_parameter("simulation.dt", 0.1, comment="The step size of an Euler integration step.")


def add_neuron_exploration(traj):
    print("Adding exploration of I and tau_ref")
    explore_dict = {"neuron.I": np.arange(0, 1.01, 0.01).tolist(), "neuron.tau_ref": [5.0, 7.5, 10.0]}
    traj.f_explore(cartesian_product(explore_dict, ("neuron.tau_ref", "neuron.I")))


def neuron_pipeline(traj):
    add_neuron_parameters(traj)
    add_neuron_exploration(traj)
    return (run_neuron, (), {}), (neuron_postproc, (), {})


def expected_rate(current, tau_ref, tau_V=10.0, dt=0.1, duration=1000.0):
    """The firing rate run_neuron computes, by counting spikes the same way."""
    steps = int(duration / dt)
    voltage, spikes, last_spike = 0.0, 0, None
    for step in range(1, steps):
        if voltage >= 1:
            voltage, spikes, last_spike = 0.0, spikes + 1, (step - 1) * dt
        elif last_spike is not None and step * dt - last_spike <= tau_ref:
            voltage = 0.0
        else:
            voltage = voltage + (-1 / tau_V * voltage + current) * dt
    return spikes / duration * 1000


def print_rates(rates_frame):
    # analysis.py plots one line per tau_ref over I; print a few points of each instead.
    for tau_ref, column in rates_frame.items():
        print("tau_ref=%s: %s" % (tau_ref, ", ".join("I=%.2f: %.1f Hz" % (current, column[current])
                                                     for current in column.index[::25])))


def expected_rate_lines():
    currents = np.arange(0, 1.01, 0.01).tolist()[::25]
    return ["tau_ref=%s: %s" % (tau_ref, ", ".join("I=%.2f: %.1f Hz" % (c, expected_rate(c, tau_ref))
                                                   for c in currents))
            for tau_ref in (5.0, 7.5, 10.0)]


@pytest.mark.slow
def test_example_13_post_processing_main_and_analysis(capsys):
    filename = os.path.join("hdf5", "FiringRate.hdf5")
    env = Environment(trajectory="FiringRate",
                      comment="Experiment to measure the firing rate of a leaky integrate and fire neuron.",
                      add_time=False, log_folder="logs", log_level=logging.INFO, log_stdout=True,
                      multiproc=True, ncores=2, wrap_mode="QUEUE", filename=filename, overwrite_file=True)
    traj = env.v_trajectory
    add_neuron_parameters(traj)
    add_neuron_exploration(traj)
    env.f_add_postprocessing(neuron_postproc)
    env.f_run(run_neuron)
    log_file = env.log_file
    env.f_disable_logging()
    # With log_stdout everything printed went to the log, the runs' prints too.
    assert printed(capsys) == []
    log = log_file.read_text()
    assert "Adding Results" in log and log.count("Finished Euler Integration") == 303

    # analysis.py: only the parameters, the rest loads on the fly.
    traj = Trajectory("FiringRate", add_time=False)
    traj.f_load(load_parameters=2, load_derived_parameters=0, load_results=0, load_other_data=0,
                filename=filename)
    traj.v_auto_load = True
    rates_frame = traj.res.summary.firing_rates.rates_frame
    assert list(rates_frame.columns) == [5.0, 7.5, 10.0] and len(rates_frame) == 101
    print_rates(rates_frame)
    assert printed(capsys) == expected_rate_lines()


def test_example_13_analysis_of_one_run_loads_it_on_the_fly(capsys):
    env = Environment(trajectory="FiringRate", add_time=False, log_config=None, report_progress=False,
                      filename=os.path.join("hdf5", "FiringRate.hdf5"), overwrite_file=True)
    traj = env.trajectory
    add_neuron_parameters(traj)
    traj.f_explore(cartesian_product({"neuron.I": [0.0, 0.13], "neuron.tau_ref": [5.0]}))
    env.run(run_neuron)
    capsys.readouterr()
    traj = Trajectory("FiringRate", add_time=False)
    traj.f_load(load_parameters=2, load_derived_parameters=0, load_results=0, load_other_data=0,
                filename=os.path.join("hdf5", "FiringRate.hdf5"))
    traj.v_auto_load = True
    traj.v_idx = 1
    example_V = traj.results.neuron.crun.V
    print("Example of development of V for I=%s, tau_ref=%s in run %d: %d steps, %d spikes"
          % (traj.I, traj.tau_ref, traj.v_idx, len(example_V), traj.results.neuron.crun.nspikes))
    traj.f_restore_default()
    assert printed(capsys) == ["Example of development of V for I=0.13, tau_ref=5.0 in run 1: 10000 steps, "
                               "%d spikes" % expected_rate(0.13, 5.0)]


@pytest.mark.slow
def test_example_13_pipeline(capsys):
    filename = os.path.join("hdf5", "FiringRate.hdf5")
    env = Environment(trajectory="FiringRatePipeline",
                      comment="Experiment to measure the firing rate of a leaky integrate and fire neuron.",
                      add_time=False, log_stdout=True, multiproc=True, ncores=2, filename=filename,
                      overwrite_file=True)
    env.pipeline(neuron_pipeline)
    env.disable_logging()
    assert printed(capsys) == []

    traj = Trajectory("FiringRatePipeline", add_time=False)
    traj.f_load(load_parameters=2, load_results=1, filename=filename)
    traj.v_auto_load = True
    print_rates(traj.res.summary.firing_rates.rates_frame)
    assert printed(capsys) == expected_rate_lines()
    # The runs' traces are there too, one result per run under results.neuron.
    traj.v_idx = 13
    assert len(traj.results.neuron.crun.V) == 10000
    assert traj.results.neuron.crun.nspikes == round(expected_rate(traj.I, traj.tau_ref))
    traj.f_restore_default()


def test_example_13_pipeline_map_with_adaptive_post_processing(capsys):
    # The cookbook's adaptive search: post-processing explores two more currents above the largest
    # one so far, with a per-run label for each, until there are six runs.
    def explore_further(traj, result_list):
        if len(traj) < 6:
            top = max(traj.f_get("neuron.I").f_get_range())
            new = [round(top + 0.01, 2), round(top + 0.02, 2)]
            return {"neuron.I": new}, (["I=%.2f" % current for current in new],)
        for idx, (label, rate) in result_list:
            print("run %d %s: %.1f Hz" % (idx, label, rate))
        return None

    def pipeline(traj):
        add_neuron_parameters(traj)
        traj.f_explore({"neuron.I": [0.09, 0.1]})
        return (labelled_rate, (["first", "second"],)), (explore_further,)

    env = Environment(trajectory="Adaptive", add_time=False, log_config=None, report_progress=False,
                      filename=os.path.join("hdf5", "adaptive.hdf5"), overwrite_file=True)
    env.pipeline_map(pipeline)
    currents = [0.09, 0.1, 0.11, 0.12, 0.13, 0.14]
    labels = ["first", "second", "I=0.11", "I=0.12", "I=0.13", "I=0.14"]
    lines = [line for line in printed(capsys) if "Euler" not in line and line != "Adding Results"]
    assert lines == ["run %d %s: %.1f Hz" % (idx, label, expected_rate(current, 5.0))
                     for idx, (label, current) in enumerate(zip(labels, currents))]


def labelled_rate(traj, label):
    return label, run_neuron(traj)


# ---------------------------------------------------------------- example 14: links


def multiply_through_links(traj):
    z = traj.mylink1 * traj.mylink2
    traj.f_add_result("runs.$.z", z, comment="Result of our simulation!")


def test_example_14_links(capsys):
    env = Environment(trajectory="Multiplication", filename=os.path.join("hdf5", "example_14.hdf5"),
                      file_title="Example_14_Links", comment="How to use links")
    traj = env.v_trajectory
    # pypet 0.6.1's example adds by assignment with a constructor (its lazy adding is gone).
    traj.par.x = Parameter("x", 1, "I am the first dimension!")
    traj.par.y = Parameter("y", 1, "I am the second dimension!")
    traj.f_explore({"x": [3, 4]})
    traj.f_add_link("mylink1", traj.f_get("x"))
    print("x=" + str(traj.mylink1))
    print(str(traj.f_get("mylink1")))
    traj.f_add_link("parameters.mynewgroup.mylink2", traj.f_get("y"))
    env.run(multiply_through_links)
    env.disable_logging()
    assert printed(capsys) == ["x=1", "Parameter parameters.x (len:2, `I am the first dimension!`): 1"]
    loaded = Trajectory(filename=os.path.join("hdf5", "example_14.hdf5"))
    loaded.f_load(index=-1, load_all=2)
    assert loaded.f_get_from_runs("z", fast_access=True, use_indices=True) == {0: 3, 1: 4}


def multiply_links_in_a_run(traj):
    z = traj.mylink1 * traj.mylink2
    traj.f_add_result("runs.$.z", z, comment="Result of our simulation!")
    return z


@pytest.mark.parametrize("multiproc", [False, True])
def test_example_14_links_work_inside_runs(capsys, multiproc):
    # Example 14 without its assignment syntax: the links reach every run, in this process or a worker.
    env = Environment(trajectory="Multiplication", filename=os.path.join("hdf5", "example_14.hdf5"),
                      file_title="Example_14_Links", comment="How to use links", multiproc=multiproc, ncores=2)
    traj = env.v_trajectory
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1, comment="I am the second dimension!")
    traj.f_explore({"x": [3, 4]})
    traj.f_add_link("mylink1", traj.f_get("x"))
    print("x=" + str(traj.mylink1))
    # (The example puts mylink2 into a new group; finding a link below the root by its short name
    # is traj-model's part, tested by test_example_14_links.)
    traj.f_add_link("mylink2", traj.f_get("y"))
    assert env.f_run(multiply_links_in_a_run) == [(0, 3), (1, 4)]
    env.f_disable_logging()
    assert printed(capsys) == ["x=1"]
    loaded = Trajectory(filename=os.path.join("hdf5", "example_14.hdf5"))
    loaded.f_load(index=-1, load_parameters=2, load_results=2)
    assert loaded.f_get_from_runs("z", fast_access=True, use_indices=True) == {0: 3, 1: 4}


def test_example_14_a_link_at_the_root_comes_back_from_the_file():
    traj = Trajectory("Links", add_time=False, filename=os.path.join("hdf5", "links.hdf5"), overwrite_file=True)
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_link("mylink1", traj.f_get("x"))
    traj.f_store()
    loaded = Trajectory(filename=os.path.join("hdf5", "links.hdf5"))
    loaded.f_load(index=-1, load_all=2)
    assert loaded.f_get("mylink1").v_full_name == "parameters.x"


# ---------------------------------------------------------------- example 15: adding data by assignment


def test_example_15_more_ways_to_add_data(capsys):
    # pypet 0.6.1's example 15: adding by assignment. Its lazy adding (``v_lazy_adding``,
    # ``new_group``) is gone from pypet, and its __setattr__ refuses a node whose name is
    # neither empty, the key, nor starts with 'key.' (the example's own 'subgroup' = 'v').
    traj = Trajectory()
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.parameters.y = Parameter("y", 1, comment="I am the second dimension!")
    traj.parameters.t = Parameter("", 1, comment="Third dimension")
    print("t=" + str(traj.t))
    with pytest.raises(AttributeError, match="'v'.*'subgroup'"):
        traj.parameters.subgroup = Parameter("v", 2, comment="Fourth dimension")
    traj.parameters.subgroup = Parameter("subgroup.v", 2, comment="Fourth dimension")
    print(traj.parameters.subgroup)
    with pytest.raises(AttributeError):
        traj.parameters = Parameter("subgroup.subsubgroup.w", 2)
    traj.parameters.subgroup = Parameter("subgroup.subsubgroup.w", 2)
    print("w=" + str(traj.par.subgroup.subsubgroup.w))
    traj.mylink = traj.f_get("x")
    print("Linking to x gives: " + str(traj.mylink))

    lines = printed(capsys)
    assert lines[0] == "t=1"
    assert lines[1].startswith("ParameterGroup parameters.subgroup")
    assert lines[2:] == ["w=2", "Linking to x gives: 1"]
    assert traj.f_get("subgroup.v").f_get() == 2 and traj.f_get("mylink") is traj.f_get("x")


# ---------------------------------------------------------------- example 16: a multiprocessing context


def manipulate_multiproc_safe(traj):
    traj.last_process_name = mp.current_process().name
    traj.results.f_store(store_data=3)
    return mp.current_process().name


@pytest.mark.parametrize("wrap_mode", ["LOCK", "QUEUE"])
def test_example_16_multiproc_context(capsys, wrap_mode):
    filename = os.path.join("hdf5", "example_16.hdf5")
    traj = Trajectory(filename=filename, overwrite_file=True)
    traj.f_add_result("last_process_name", "N/A", comment="Name of the last process that manipulated the trajectory")
    with MultiprocContext(trajectory=traj, wrap_mode=wrap_mode):
        iterable = (traj for _ in range(50))
        pool = mp.get_context("fork").Pool(processes=4)
        names = pool.map_async(manipulate_multiproc_safe, iterable).get(timeout=120)
        pool.close()
        pool.join()
    traj.results.f_load(load_data=3)
    print("The last process to manipulate the trajectory was: `%s`" % traj.last_process_name)

    lines = printed(capsys)
    assert len(lines) == 1
    prefix = "The last process to manipulate the trajectory was: `"
    assert lines[0].startswith(prefix) and lines[0].endswith("`")
    # Which worker stored last varies from run to run; it is one of the pool's.
    assert lines[0][len(prefix):-1] in set(names) and len(names) == 50


# ---------------------------------------------------------------- example 17: wrapping an existing project


def convert_rule(rule_number):
    return np.array([(rule_number // pow(2, i)) % 2 for i in range(8)])


def make_initial_state(name, ncells, seed=42):
    if name == "single":
        just_one_cell = np.zeros(ncells)
        just_one_cell[int(ncells / 2)] = 1.0
        return just_one_cell
    if name == "random":
        np.random.seed(seed)
        return np.random.randint(2, size=ncells)
    raise ValueError("I cannot handel your initial state `%s`." % name)


def cellular_automaton_1D(initial_state, rule_number, steps):
    ncells = len(initial_state)
    pattern = np.zeros((steps, ncells))
    pattern[0, :] = initial_state
    binary_rule = convert_rule(rule_number)
    neighbourhood_factors = np.array([1, 2, 4])
    for step in range(steps - 1):
        current_row = pattern[step, :]
        for irun in range(ncells):
            neighbourhood = np.take(current_row, range(irun - 1, irun + 2), mode="wrap")
            pattern[step + 1, irun] = binary_rule[int(np.sum(neighbourhood * neighbourhood_factors))]
    return pattern


def make_filename(traj):
    filename = ""
    for param in traj.f_get_explored_parameters().values():
        filename += "%s_%s__" % (param.v_name, str(param.f_get()))
    return filename[:-2] + ".png"


def wrap_automaton(traj):
    initial_state = make_initial_state(traj.initial_name, traj.ncells, traj.seed)
    pattern = cellular_automaton_1D(initial_state, traj.rule_number, traj.steps)
    traj.f_add_result("pattern", pattern, comment="Development of CA over time")


def check_wrapped_automata(traj, folder, ncells, steps, seed):
    logger = logging.getLogger("example_17")
    traj.f_load(load_data=2)
    seen = []
    for idx, run_name in enumerate(traj.f_iter_runs()):
        # pypetwrap.py plots each pattern into a file named after the explored values.
        seen.append((make_filename(traj), traj.crun.pattern.copy()))
        progressbar(idx, len(traj), logger=logger)
    rules = [10, 30, 90, 110, 184]
    names = ["single", "random"]
    explored = cartesian_product({"rule_number": rules, "initial_name": names})
    assert len(seen) == len(rules) * len(names)
    for (plot_name, pattern), rule, name in zip(seen, explored["rule_number"], explored["initial_name"]):
        assert set(plot_name[:-4].split("__")) == {f"rule_number_{rule}", f"initial_name_{name}"}
        assert np.array_equal(pattern, cellular_automaton_1D(make_initial_state(name, ncells, seed), rule, steps))


def test_example_17_wrapping_an_existing_project(caplog):
    folder = os.path.join(os.getcwd(), "experiments", "ca_patterns_pypet")
    os.makedirs(folder, exist_ok=True)
    env = Environment(trajectory="cellular_automata", multiproc=True, ncores=2, wrap_mode="QUEUE",
                      filename=os.path.join(folder, "all_patterns.hdf5"), overwrite_file=True)
    traj = env.traj
    traj.par.ncells = Parameter("ncells", 40, "Number of cells")
    traj.par.steps = Parameter("steps", 25, "Number of timesteps")
    traj.par.rule_number = Parameter("rule_number", 30, "The ca rule")
    traj.par.initial_name = Parameter("initial_name", "random", "The type of initial state")
    traj.par.seed = Parameter("seed", 100042, "RNG Seed")
    traj.f_explore(cartesian_product({"rule_number": [10, 30, 90, 110, 184], "initial_name": ["single", "random"]}))
    env.f_run(wrap_automaton)
    check_wrapped_automata(traj, folder, 40, 25, 100042)
    env.f_disable_logging()


def test_example_17_wrapping_with_f_add_parameter(caplog):
    # pypetwrap.py with f_add_parameter instead of assignment (and a smaller automaton, as it suggests).
    caplog.set_level(logging.INFO, logger="example_17")
    folder = os.path.join(os.getcwd(), "experiments", "ca_patterns_pypet")
    os.makedirs(folder, exist_ok=True)
    env = Environment(trajectory="cellular_automata", multiproc=True, ncores=2, wrap_mode="QUEUE",
                      filename=os.path.join(folder, "all_patterns.hdf5"), overwrite_file=True)
    traj = env.v_trajectory
    traj.f_add_parameter("ncells", 40, comment="Number of cells")
    traj.f_add_parameter("steps", 25, comment="Number of timesteps")
    traj.f_add_parameter("rule_number", 30, comment="The ca rule")
    traj.f_add_parameter("initial_name", "random", comment="The type of initial state")
    traj.f_add_parameter("seed", 100042, comment="RNG Seed")
    traj.f_explore(cartesian_product({"rule_number": [10, 30, 90, 110, 184], "initial_name": ["single", "random"]}))
    env.f_run(wrap_automaton)
    check_wrapped_automata(traj, folder, 40, 25, 100042)
    env.f_disable_logging()
    bars = [record.getMessage() for record in caplog.records if record.name == "example_17"]
    assert bars[0].startswith("[==") and bars[-1] == "[====================]100.0%"
    assert len(bars) == 10


def test_example_17_original_prints_its_progress(capsys):
    # original.py's loop with progressbar(..., reprint=True): one line redrawn with carriage returns.
    rules = [10, 30, 90, 110, 184]
    print("Computing all patterns")
    for idx, _ in enumerate(rules):
        progressbar(idx, len(rules), reprint=True, time=False)
    print()
    out = capsys.readouterr().out
    assert out == ("Computing all patterns\n\r[====                ] 20.0%\r[========            ] 40.0%"
                   "\r[============        ] 60.0%\r[================    ] 80.0%\r[====================]100.0%\n")


def test_progressbar_writes_every_step_and_starts_again_for_a_new_loop(capsys):
    lines = [progressbar(i, 10, percentage_step=20, reprint=False, time=False) for i in range(10)]
    assert [line for line in lines if line] == [
        "[==                  ] 10.0%", "[====                ] 20.0%", "[========            ] 40.0%",
        "[============        ] 60.0%", "[================    ] 80.0%", "[====================]100.0%"]
    assert printed(capsys) == [line for line in lines if line]
    # A lower index starts a new bar; fmt_string and logger=None only return it.
    assert progressbar(0, 4, logger=None, fmt_string="Progress: %s", time=False) == "Progress: [=====               ] 25.0%"
    assert printed(capsys) == []
    with pytest.raises(ValueError, match="total of at least 1"):
        progressbar(0, 0)


# ---------------------------------------------------------------- example 18: many runs


def multiply_into_sets(traj):
    z = traj.x * traj.y
    traj.f_add_result("$set.$.z", z, comment="Result of our simulation sorted into buckets of 1000 runs each!")


@pytest.mark.slow
def test_example_18_many_runs(capsys):
    env = Environment(trajectory="Multiplication", filename=os.path.join("hdf5", "example_18.hdf5"),
                      file_title="Example_18_Many_Runs", comment="Contains many runs", multiproc=True, ncores=2,
                      wrap_mode="QUEUE")
    traj = env.v_trajectory
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1, comment="I am the second dimension!")
    traj.f_explore(cartesian_product({"x": range(50), "y": range(50)}))
    env.f_run(multiply_into_sets)
    env.f_disable_logging()
    traj.v_auto_load = True
    traj.v_idx = 2042
    print("The result of run %d is: " % traj.v_idx)
    print(traj.res.crunset.crun.z)
    traj.v_idx = -1
    assert printed(capsys) == ["The result of run 2042 is: ", str((2042 // 50) * (2042 % 50))]


def multiply_many(traj):
    traj.f_add_result("z", traj.x * traj.y, comment="Result of our simulation")


@pytest.mark.slow
def test_example_18_many_runs_without_sets(capsys):
    # 2500 runs on two processes through the queue, read back on the fly after v_idx.
    env = Environment(trajectory="Multiplication", filename=os.path.join("hdf5", "example_18.hdf5"),
                      file_title="Example_18_Many_Runs", comment="Contains many runs", multiproc=True, ncores=2,
                      wrap_mode="QUEUE")
    traj = env.v_trajectory
    traj.f_add_parameter("x", 1, comment="I am the first dimension!")
    traj.f_add_parameter("y", 1, comment="I am the second dimension!")
    traj.f_explore(cartesian_product({"x": range(50), "y": range(50)}))
    env.f_run(multiply_many)
    env.f_disable_logging()
    traj.v_auto_load = True
    traj.v_idx = 2042
    print("The result of run %d is: " % traj.v_idx)
    print(traj.res.runs.crun.z)
    traj.v_idx = -1
    assert printed(capsys) == ["The result of run 2042 is: ", str((2042 // 50) * (2042 % 50))]
    assert len(traj) == 2500 and traj.f_is_completed()


def print_and_store(traj):
    print("inside run %d" % traj.v_idx)
    traj.f_add_result("z", traj.x)


def test_log_stdout_sends_what_the_script_prints_to_the_log_until_disable_logging(capsys):
    # pypet's log_stdout=True: everything printed while the environment lives goes to its log.
    env = Environment(trajectory="Quiet", add_time=False, log_stdout=True, report_progress=False,
                      filename=os.path.join("hdf5", "quiet.hdf5"))
    print("setting up")
    env.trajectory.f_add_parameter("x", 0)
    env.trajectory.f_explore({"x": [1, 2]})
    env.run(print_and_store)
    log_file = env.log_file
    env.disable_logging()
    print("after disable_logging")
    assert printed(capsys) == ["after disable_logging"]
    log = log_file.read_text()
    assert "setting up" in log and "inside run 0" in log and "inside run 1" in log
