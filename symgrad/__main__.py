"""Command line: ``python -m symgrad demo`` runs the lecture's examples;
``python -m symgrad cache`` shows the folder of compiled code, and
``python -m symgrad cache --clear`` empties it. ``--help`` lists them."""
import argparse
import contextlib
import os
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m symgrad",
        description="symgrad: symbolic differentiation of tensor graphs, compiled with Numba.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    commands.add_parser("demo", help="derive and check the lecture's examples",
                        description="Derive and check the lecture's examples.")
    cache = commands.add_parser(
        "cache", help="show (or, with --clear, empty) the folder of compiled code",
        description="Print the folder where compiled functions are cached ($SYMGRAD_CACHE_DIR, "
                    "else the platform's per-user cache folder) and its size.")
    cache.add_argument("--clear", action="store_true",
                       help="delete what symgrad wrote there (it is rebuilt as needed)")
    return parser


def _size(folder):
    """The number of files below ``folder`` and their bytes."""
    count = size = 0
    for where, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # deleted meanwhile by another process
                size += os.lstat(os.path.join(where, name)).st_size
                count += 1
    return count, size


def _cache(clear):
    from symgrad_codegen import cache_folder
    from .numba_backend import cache_dir
    folder = cache_dir()
    if clear:
        count, size = cache_folder.clear(folder)
        print(f"deleted {count} files ({size / 2**20:.1f} MiB) from {folder}")
    else:
        count, size = _size(folder)
        print(f"{folder}: {count} files, {size / 2**20:.1f} MiB")
    return 0


def main(argv=None):
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); returns the
    exit status (2 and the usage on stderr for an unknown command).

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = main(["compile"])
    >>> status, err.getvalue().splitlines()[0]
    (2, 'usage: python -m symgrad [-h] command ...')
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return stop.code
    if args.command == "cache":
        return _cache(args.clear)
    from .demo import main as demo
    return demo()


if __name__ == "__main__":
    sys.exit(main())
