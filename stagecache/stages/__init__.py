"""The artifact stage: its project, fingerprint, build (continuation, early cutoff, divergence), status."""
