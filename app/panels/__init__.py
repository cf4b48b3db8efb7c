"""The bottom-area panels: training, data, evaluation (test and export come later)."""
