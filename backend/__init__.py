"""LayerForge's torch side: compile graphs, load data, train, evaluate, checkpoint, CLI.

Imports no Qt: the GUI drives it through plain callbacks/events.
"""
