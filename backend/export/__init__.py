"""The export room: the formats a trained model is written in (``formats``: names, suffixes,
no torch), the exporters that write and verify them (``exporter``) and the standalone
``predict_script`` shipped beside an export (read as text; it imports nothing of LayerForge)."""
