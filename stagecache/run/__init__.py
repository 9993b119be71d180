"""Around a luigi run: progress lines, console, claims, preloading, luigid progress and loss, exit code."""
