"""The node editor: canvas (scene + view), palette, inspector, code view."""
