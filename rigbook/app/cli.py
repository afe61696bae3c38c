"""Command line: ``rigbook`` (window), ``rigbook record`` (headless), ``inspect``, ``finish``, ``export``.

Only the window imports Qt: ``record``, ``inspect``, ``finish`` and ``export``
run on the Qt-free session layer.
"""

import argparse
import logging
import os
import sys

from rigbook.resources import defaults

logger = logging.getLogger(__name__)

DEFAULT_HEADLESS_DURATION_S = 10.0
DEFAULT_SUBJECT = "demo-fish"


class RigError(Exception):
    """A ``--rig`` that cannot be loaded: told in one line, without a traceback."""


def has_display():
    """True when a window can be shown: a display server, or a Qt platform chosen explicitly."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _formats(text):
    from rigbook.session.settings import check_formats

    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    try:
        return check_formats(formats)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _duration(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="rigbook",
        description="Acquisition app for lab rigs. Without a command: open the window with the demo rig "
                    "(or record headless when there is no display).",
    )
    parser.add_argument("--rig", help="your rig: 'module:function' or 'script.py:function' returning a Rig")
    parser.add_argument("--instance", type=int, default=-1, help="settings instance number (default -1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    commands = parser.add_subparsers(dest="command")

    first_start = defaults()["session"]
    rec = commands.add_parser("record", help="record headless, save, print a summary")
    rec.add_argument("--duration", type=_duration, required=True, help="seconds to record")
    rec.add_argument("--subject", required=True, help="subject ID")
    rec.add_argument("--task", required=True, help="task ID (a new folder under the subject)")
    rec.add_argument("--root", default=None,
                     help="storage root (default: $RIGBOOK_DATA_DIR, else Rigbook in your documents folder)")
    rec.add_argument("--formats", type=_formats, default=list(first_start["formats"]),
                     help="export formats, comma separated: csv,feather,parquet,hdf5,json,nwb "
                          f"(default {','.join(first_start['formats'])})")
    rec.add_argument("--protocol", default=None, help="protocol to run (default: the rig's first)")
    rec.add_argument("--set", dest="assignments", action="append", default=[], metavar="OWNER/PARAM=VALUE",
                     help="set a parameter, e.g. stimulus/protocol/gratings/speed=12.5 (repeatable)")
    rec.add_argument("--params", metavar="FILE.json", help="parameters from a JSON file ({\"owner/param\": value})")
    rec.add_argument("--restore", action="store_true",
                     help="start from the rig's last-session settings (default: the rig's defaults)")
    existing = rec.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true",
                          help="replace an existing task (the old one is moved into <root>/.replaced/)")
    existing.add_argument("--next-free", action="store_true",
                          help="record under the next free task ID when the task exists")
    rec.add_argument("--tracker-rate", type=float, default=None, help="demo rig: tracker samples per second")

    ins = commands.add_parser("inspect", help="show what a storage root or task folder holds")
    ins.add_argument("path")
    ins.add_argument("--json", action="store_true", help="print the summary as JSON (what open_session gives)")

    exp = commands.add_parser("export", help="export a recorded task folder")
    exp.add_argument("task_folder")
    exp.add_argument("--nwb", action="store_true", required=True, help="write <task>/session.nwb (needs pynwb)")
    exp.add_argument("--out", default=None, help="the NWB file to write (default <task>/session.nwb)")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing NWB file")

    fin = commands.add_parser("finish", help="complete a recording whose app was killed")
    fin.add_argument("task_folder")
    fin.add_argument("--formats", type=_formats, default=None,
                     help="export formats (default: those chosen when it started)")
    return parser


def _rig(args):
    try:
        if args.rig:
            from rigbook.session.rig import load_rig

            return load_rig(args.rig)
        from rigbook.session.demo import demo_rig

        rate = getattr(args, "tracker_rate", None)
        return demo_rig(tracker_rate=rate) if rate else demo_rig()
    except Exception as error:  # noqa: BLE001  (a user's script can raise anything: one line, no traceback)
        where = args.rig or "the demo rig"
        raise RigError(f"--rig {where}: {type(error).__name__}: {error}") from None


def _say(text=""):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _summary(result, problems, rig, session):
    from rigbook.session.inspection import describe_task

    if result is not None:
        _say(f"recorded {result.duration:.1f} s of the {rig.name} into {result.folder} ({result.status})")
        for line in describe_task(result.folder)[1:]:
            _say(line)
        if result.parameters:
            _say("parameters used:")
            for path, value in result.parameters.items():
                _say(f"  {path} = {value!r}")
    if problems:
        _say(f"the session is NOT complete ({len(problems)} problem(s)):")
        for problem in problems:
            _say(f"  - {problem}")
    else:
        _say("all files written.")


def run_record(rig, args):
    """Record headless and print the summary; return the exit code."""
    from rigbook.session.headless import record
    from rigbook.session.settings import parse_assignment, read_params_file

    def echo(level, text):
        if level != "info":
            sys.stderr.write(f"{level}: {text}\n")

    assignments = {}
    try:
        if args.params:
            assignments.update(read_params_file(args.params))
        for text in args.assignments:
            path, value = parse_assignment(text)
            assignments[path] = value
    except ValueError as error:
        sys.stderr.write(f"rigbook record: {error}\n")
        return 2
    if_exists = "replace" if args.overwrite else "next" if args.next_free else "fail"
    # The session logs what it tells the user; echoed here, its log would print each warning twice.
    session_log = logging.getLogger("rigbook.session.session")
    quiet = not session_log.isEnabledFor(logging.INFO)  # (-v shows the log as well)
    if quiet:
        session_log.disabled = True
    try:
        result, problems, session = record(
            rig, args.duration, args.subject, args.task, root=args.root, formats=args.formats,
            instance_number=args.instance, on_message=echo, protocol=args.protocol,
            assignments=assignments, restore=args.restore, if_exists=if_exists)
    except FileExistsError as error:
        sys.stderr.write(f"rigbook record: {error}; give --next-free to use it, or --overwrite to replace "
                         "the old task (it is moved into <root>/.replaced/)\n")
        return 2
    except (ValueError, OSError) as error:
        sys.stderr.write(f"rigbook record: {error}\n")
        return 2
    finally:
        if quiet:
            session_log.disabled = False
    _summary(result, problems, rig, session)
    if result is not None and result.duration + 0.5 < args.duration and result.status == "complete":
        _say(f"note: the protocol ended after {result.duration:.1f} s, before the {args.duration:g} s asked for")
    return 0 if (result is not None and not problems) else 1


def run_inspect(args):
    """Print what a root or task holds; exit 1 when some file was unreadable (each is named)."""
    import json

    from rigbook.session.inspection import inspect

    try:
        found = inspect(args.path)
    except (FileNotFoundError, NotADirectoryError) as error:
        sys.stderr.write(f"rigbook inspect: {error}\n")
        return 2
    _say(json.dumps(found.to_json(), indent=1, ensure_ascii=False) if args.json else found.text)
    return 1 if found.unreadable else 0


def run_export(args):
    from pathlib import Path

    from rigbook.storage.nwb import export_nwb

    try:
        written = export_nwb(args.task_folder, outfile=args.out, overwrite=args.overwrite)
    except ImportError as error:
        sys.stderr.write(f"rigbook export: {error} (pip install 'rigbook[nwb]')\n")
        return 2
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as error:
        sys.stderr.write(f"rigbook export: {error}\n")
        return 2
    _say(f"wrote {Path(written)}")
    return 0


def run_finish(args):
    from rigbook.session import finish_session
    from rigbook.session.inspection import describe_task

    try:
        result = finish_session(args.task_folder, formats=args.formats)
    except (FileNotFoundError, ValueError) as error:
        sys.stderr.write(f"rigbook finish: {error}\n")
        return 2
    _say(f"finished {result.folder}: {result.duration:.1f} s recovered")
    for line in describe_task(result.folder)[1:]:
        _say(line)
    for what, text in result.errors:
        _say(f"  - {what}: {text}")
    return 1 if result.errors else 0


def _headless_default(rig, args):
    from rigbook.session.headless import default_task_id
    from rigbook.session.settings import default_storage_root

    root = default_storage_root()
    task = default_task_id()
    _say(f"rigbook: no display (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are unset), so instead of "
         f"the window: recording {DEFAULT_HEADLESS_DURATION_S:g} s of the {rig.name} headless into "
         f"{root / DEFAULT_SUBJECT / task}.")
    _say("Run it where there is a display for the window; see `rigbook record --help` for options.")
    args = argparse.Namespace(duration=DEFAULT_HEADLESS_DURATION_S, subject=DEFAULT_SUBJECT, task=task,
                              root=str(root), formats=["csv", "feather"], instance=args.instance,
                              protocol=None, assignments=[], params=None, restore=False, overwrite=False,
                              next_free=True)
    return run_record(rig, args)


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "inspect":
            return run_inspect(args)
        if args.command == "export":
            return run_export(args)
        if args.command == "finish":
            return run_finish(args)
        try:
            rig = _rig(args)
        except RigError as error:
            sys.stderr.write(f"rigbook: {error}\n")
            return 2
        if args.command == "record":
            return run_record(rig, args)
        if not has_display():
            return _headless_default(rig, args)
        from rigbook.app.application import run_app

        return run_app(rig, instance_number=args.instance)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
