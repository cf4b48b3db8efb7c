"""The training room: the headless trainer (``train``: a generator of typed events), layer
statistics while training (``monitor``), hyper-parameter sweeps (``sweep``) and multi-process
runs under torchrun (``distributed``). It asks the run's task (``backend.tasks``) how to
measure and check; it imports no Qt."""
