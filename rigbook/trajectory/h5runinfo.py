"""Run information (completed flag, timing, parameter summary) in the ``_runs`` group, one row per run."""

import numpy as np

from rigbook.trajectory.h5columns import STR_DTYPE


class RunInfoIO:
    """Mixin of :class:`HDF5StorageService` writing and reading run information columns."""

    def _write_run_information(self, tgroup, traj, rows=None):
        self._flush_run_rows()
        infos = traj._run_information[: traj._length]
        group = tgroup.require_group("_runs")
        if "completed" in group:
            # Runs stored as completed by another process (a writer of the
            # Environment) stay completed, and the trajectory learns it.
            on_disk = group["completed"][...]
            done = [i for i in np.flatnonzero(on_disk[: len(infos)]).tolist() if not infos[i]["completed"]]
            if done:
                self._read_run_information(tgroup, traj, only=done)
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

    def _write_run_row(self, tgroup, info):
        """Queue one run's information; :meth:`_flush_run_rows` writes all queued rows at once."""
        self._run_rows.setdefault(tgroup.name, {})[int(info["idx"])] = info

    def _flush_run_rows(self):
        pending, self._run_rows = self._run_rows, {}
        for path, rows in pending.items():
            group = self._file[path].get("_runs")
            if group is None:
                continue
            length = group["completed"].shape[0]
            rows = {idx: info for idx, info in rows.items() if idx < length}
            if not rows:
                continue
            # One read-modify-write per column beats thousands of one-element writes.
            for column, convert in (("completed", int), ("timestamp", float), ("finish_timestamp", float)):
                data = group[column][...]
                for idx, info in rows.items():
                    data[idx] = convert(info[column])
                group[column][...] = data
            for column in ("time", "runtime", "parameter_summary", "short_environment_hexsha"):
                data = np.array(group[column].asstr()[...], dtype=object)
                for idx, info in rows.items():
                    data[idx] = info.get(column) or ""
                group[column][...] = data

    def _read_run_information(self, tgroup, traj, only=None):
        group = tgroup.get("_runs")
        if group is None:
            return
        n = min(group["completed"].shape[0], traj._length)
        completed = group["completed"][:n].tolist()
        timestamp = group["timestamp"][:n].tolist()
        finish = group["finish_timestamp"][:n].tolist()
        strings = {c: group[c].asstr()[:n].tolist() for c in ("time", "runtime", "parameter_summary", "short_environment_hexsha")}
        for i in range(n) if only is None else only:
            info = traj._run_information[i]
            info["completed"] = completed[i]
            info["timestamp"] = timestamp[i]
            info["finish_timestamp"] = finish[i]
            for column, values in strings.items():
                info[column] = values[i]
