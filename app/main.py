"""Entry point of the ``layerforge`` command.

With a subcommand it runs the headless CLI (``backend.cli``) without loading Qt; with no
arguments it opens the editor.
"""
from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv:
        from backend.cli import main as cli_main
        return cli_main(argv)
    return open_editor()


def open_editor() -> int:
    """The node editor is the next issue; until it lands, say so and show the CLI."""
    from backend.cli import build_parser

    print("The LayerForge editor window is not built yet (it is the next issue). Everything "
          "else works from the command line:\n", file=sys.stderr)
    build_parser().print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
