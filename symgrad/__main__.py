"""Command line: ``python -m symgrad demo``."""
import sys


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["demo"]:
        print("usage: python -m symgrad demo", file=sys.stderr)
        return 2
    from .demo import main as demo
    return demo()


if __name__ == "__main__":
    sys.exit(main())
