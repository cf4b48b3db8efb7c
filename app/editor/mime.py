"""Clipboard / drag-and-drop formats shared by the editor's widgets."""

LAYER_MIME = "application/x-layerforge-layer"      # a catalogue layer type name (utf-8)
GRAPH_MIME = "application/x-layerforge-graph"      # copied nodes + edges as JSON
BLOCK_MIME = "application/x-layerforge-block"      # a palette block key: "builtin:Name",
#                                                    "library:<path>" or "project:Name"
