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
    """Open the editor on the built-in example.

    The editor window is the next issue. Until it lands, this trains the built-in example
    (the digits CNN, offline data) in the terminal, so ``make run`` shows LayerForge working.
    """
    from pathlib import Path

    from backend.cli import main as cli_main
    from graph.project import save_project
    from graph.templates import build_template

    print("The editor window is not built yet (next issue); training the built-in example "
          "'digits-cnn' headless instead.\n", file=sys.stderr)
    example = Path("runs") / "example" / "digits-cnn.json"
    save_project(build_template("digits-cnn"), example)
    return cli_main(["train", str(example), "--out", str(example.parent)])


if __name__ == "__main__":
    raise SystemExit(main())
