"""Clipboard / drag-and-drop formats shared by the editor's widgets."""

LAYER_MIME = "application/x-layerforge-layer"      # a catalogue layer type name (utf-8)
GRAPH_MIME = "application/x-layerforge-graph"      # copied nodes + edges as JSON
