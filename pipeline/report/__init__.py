"""Figures, metrics and the HTML page of the final report."""
