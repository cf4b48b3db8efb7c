"""The network graph: layer catalogue, graph model, edits, shapes, validation, project files.

Pure Python (networkx only): no Qt, no torch. Everything else in LayerForge is a view on this
model or a consumer of it.
"""
