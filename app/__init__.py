"""LayerForge's desktop GUI (PySide6): the only package that knows Qt."""
