"""Run information (completed flag, timing, parameter summary) in the ``_runs`` group, one row per run."""

import numpy as np

from rigbook.trajectory.h5columns import STR_DTYPE, write_rows

_NUMERIC_COLUMNS = (("completed", "i1", int), ("timestamp", "f8", float), ("finish_timestamp", "f8", float))
_STRING_COLUMNS = ("time", "runtime", "parameter_summary", "short_environment_hexsha")
_MAX_SPANS = 32


def _consecutive_spans(indices):
    """``[(start, stop), ...]`` of the runs of consecutive values in sorted ``indices``."""
    spans = []
    start = previous = indices[0]
    for idx in indices[1:]:
        if idx != previous + 1:
            spans.append((start, previous + 1))
            start = idx
        previous = idx
    spans.append((start, previous + 1))
    return spans


class RunInfoTable:
    """The run information columns of the files a storage service writes, and the rows queued for them.

    The service owns one and calls it; it keeps no reference to the file,
    only the rows of single runs waiting to be written (:meth:`queue`).
    """

    def __init__(self):
        self._rows = {}

    def __getstate__(self):
        return {"_rows": {}}  # queued rows belong to the open file of this process

    @property
    def pending(self):
        """Whether queued rows wait for :meth:`flush`."""
        return bool(self._rows)

    def clear(self):
        """Forget queued rows (the file is closing without writing them)."""
        self._rows.clear()

    def write_all(self, tgroup, traj):
        """Write every run's information of ``traj`` into ``tgroup`` (queued rows first)."""
        self.flush(tgroup.file)
        infos = traj._run_information[: traj._length]
        group = tgroup.require_group("_runs")
        if "completed" in group:
            # Runs stored as completed by another process (a writer of the
            # Environment) stay completed, and the trajectory learns it.
            on_disk = group["completed"][...]
            done = [i for i in np.flatnonzero(on_disk[: len(infos)]).tolist() if not infos[i]["completed"]]
            if done:
                self.read(tgroup, traj, only=done)
        columns = {
            "completed": ("i1", [int(i["completed"]) for i in infos]),
            "timestamp": ("f8", [float(i["timestamp"]) for i in infos]),
            "finish_timestamp": ("f8", [float(i["finish_timestamp"]) for i in infos]),
            "time": (None, [i["time"] for i in infos]),
            "runtime": (None, [i["runtime"] for i in infos]),
            "parameter_summary": (None, [i["parameter_summary"] for i in infos]),
            "short_environment_hexsha": (None, [i["short_environment_hexsha"] or "" for i in infos]),
        }
        for column, (dtype, values) in columns.items():
            if column in group:
                del group[column]
            if dtype is None:
                data = np.empty(len(values), dtype=object)
                data[:] = values
                group.create_dataset(column, data=data, dtype=STR_DTYPE, maxshape=(None,), chunks=True)
            else:
                group.create_dataset(column, data=np.asarray(values, dtype=dtype), maxshape=(None,), chunks=True)

    def queue(self, tgroup, info):
        """Queue one run's information; :meth:`flush` writes all queued rows at once."""
        self._rows.setdefault(tgroup.name, {})[int(info["idx"])] = info

    def flush(self, h5file):
        """Write the queued rows in place: only their rows are touched, never whole columns.

        A LOCK-mode worker opens the file, stores one run and closes it; the
        cost of that must not grow with the number of runs in the file, so
        each block of consecutive run indices is written as one slice, and
        nothing is read back.
        """
        pending, self._rows = self._rows, {}
        for path, rows in pending.items():
            group = h5file[path].get("_runs")
            if group is None:
                continue
            length = group["completed"].shape[0]
            indices = sorted(idx for idx in rows if 0 <= idx < length)
            if not indices:
                continue
            spans = _consecutive_spans(indices)
            if len(spans) > _MAX_SPANS:
                # Scattered rows (many writers): one read-modify-write of the
                # covered range beats thousands of one-row writes.
                self._patch_run_range(group, rows, indices[0], indices[-1] + 1)
                continue
            for start, stop in spans:
                infos = [rows[idx] for idx in range(start, stop)]
                for column, dtype, convert in _NUMERIC_COLUMNS:
                    write_rows(group[column], start, np.array([convert(info[column]) for info in infos], dtype=dtype))
                for column in _STRING_COLUMNS:
                    data = np.empty(len(infos), dtype=object)
                    data[:] = [info.get(column) or "" for info in infos]
                    group[column][start:stop] = data

    @staticmethod
    def _patch_run_range(group, rows, start, stop):
        for column, _, convert in _NUMERIC_COLUMNS:
            data = group[column][start:stop]
            for idx, info in rows.items():
                if start <= idx < stop:
                    data[idx - start] = convert(info[column])
            group[column][start:stop] = data
        for column in _STRING_COLUMNS:
            data = np.array(group[column].asstr()[start:stop], dtype=object)
            for idx, info in rows.items():
                if start <= idx < stop:
                    data[idx - start] = info.get(column) or ""
            group[column][start:stop] = data

    def read(self, tgroup, traj, only=None):
        """Give ``traj`` the run information stored in ``tgroup`` (of the runs ``only``, or all)."""
        group = tgroup.get("_runs")
        if group is None:
            return
        n = min(group["completed"].shape[0], traj._length)
        completed = group["completed"][:n].tolist()
        timestamp = group["timestamp"][:n].tolist()
        finish = group["finish_timestamp"][:n].tolist()
        strings = {c: group[c].asstr()[:n].tolist() for c in ("time", "runtime", "parameter_summary", "short_environment_hexsha")}
        for i in range(n) if only is None else only:
            info = {"idx": i, "completed": completed[i], "timestamp": timestamp[i], "finish_timestamp": finish[i]}
            for column, values in strings.items():
                info[column] = values[i]
            traj._update_run_information(info)
