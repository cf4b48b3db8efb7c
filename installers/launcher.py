"""Entry script of the bundled app: the same ``app.main:main`` as the ``layerforge`` command.

No arguments open the editor; ``LayerForge <command> ...`` runs the CLI; ``--smoke-test``
opens the editor, waits for the first paint and exits 0 (installers/smoke_test.sh).
"""
import multiprocessing

from app.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # spawned workers (Windows/macOS) must not re-run the app
    raise SystemExit(main())
