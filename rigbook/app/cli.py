"""Command line: ``rigbook`` (window), ``rigbook record`` (headless), ``rigbook inspect``."""

import argparse
import logging
import os
import sys

from rigbook.resources import defaults

logger = logging.getLogger(__name__)

DEFAULT_HEADLESS_DURATION_S = 10.0
DEFAULT_SUBJECT = "demo-fish"


def has_display():
    """True when a window can be shown: a display server, or a Qt platform chosen explicitly."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _formats(text):
    from rigbook.storage import FORMATS

    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    for fmt in formats:
        if fmt not in FORMATS:
            raise argparse.ArgumentTypeError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return formats


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
    rec.add_argument("--root", default=first_start["storage_root"],
                     help=f"storage root (default ./{first_start['storage_root']})")
    rec.add_argument("--formats", type=_formats, default=list(first_start["formats"]),
                     help="export formats, comma separated: csv,feather,parquet,hdf5,json "
                          f"(default {','.join(first_start['formats'])})")
    rec.add_argument("--tracker-rate", type=float, default=None, help="demo rig: tracker samples per second")

    ins = commands.add_parser("inspect", help="show what a storage root or task folder holds")
    ins.add_argument("path")
    return parser


def _rig(args):
    if args.rig:
        from rigbook.app.rig import load_rig

        return load_rig(args.rig)
    from rigbook.app.demo import demo_rig

    rate = getattr(args, "tracker_rate", None)
    return demo_rig(tracker_rate=rate) if rate else demo_rig()


def _say(text=""):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _summary(result, problems, rig):
    from rigbook.app.inspection import describe_task

    if result is not None:
        _say(f"recorded {result.duration:.1f} s of the {rig.name} into {result.folder}")
        for line in describe_task(result.folder)[1:]:
            _say(line)
    if problems:
        _say(f"the session is NOT complete ({len(problems)} problem(s)):")
        for problem in problems:
            _say(f"  - {problem}")
    else:
        _say("all files written.")


def run_record(rig, duration, subject, task, root, formats, instance=-1):
    """Record headless and print the summary; return the exit code."""
    from rigbook.app.headless import record

    def echo(level, text):
        if level != "info":
            sys.stderr.write(f"{level}: {text}\n")

    # The controller logs what it tells the user; echoed here, its log would print each warning twice.
    controller_log = logging.getLogger("rigbook.app.controller")
    quiet = not controller_log.isEnabledFor(logging.INFO)  # (-v shows the log as well)
    if quiet:
        controller_log.disabled = True
    try:
        result, problems = record(rig, duration, subject, task, root=root, formats=formats,
                                  instance_number=instance, on_message=echo)
    except (ValueError, FileExistsError, OSError) as error:
        sys.stderr.write(f"rigbook record: {error}\n")
        return 2
    finally:
        if quiet:
            controller_log.disabled = False
    _summary(result, problems, rig)
    interrupted = any(problem.startswith("interrupted") for problem in problems)
    if result is not None and result.duration + 0.5 < duration and not interrupted:
        _say(f"note: the protocol ended after {result.duration:.1f} s, before the {duration:g} s asked for")
    return 0 if (result is not None and not problems) else 1


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "inspect":
            from rigbook.app.inspection import describe

            try:
                _say(describe(args.path))
            except (FileNotFoundError, NotADirectoryError) as error:
                sys.stderr.write(f"rigbook inspect: {error}\n")
                return 2
            return 0
        rig = _rig(args)
        if args.command == "record":
            return run_record(rig, args.duration, args.subject, args.task, args.root, args.formats, args.instance)
        if not has_display():
            from rigbook.app.headless import default_task_id

            task = default_task_id()
            _say(f"rigbook: no display (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are unset), so instead of "
                 f"the window: recording {DEFAULT_HEADLESS_DURATION_S:g} s of the {rig.name} headless into "
                 f"data/{DEFAULT_SUBJECT}/{task}.")
            _say("Run it where there is a display for the window; see `rigbook record --help` for options.")
            return run_record(rig, DEFAULT_HEADLESS_DURATION_S, DEFAULT_SUBJECT, task, "data",
                              ["csv", "feather"], args.instance)
        from rigbook.app.application import run_app

        return run_app(rig, instance_number=args.instance)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
