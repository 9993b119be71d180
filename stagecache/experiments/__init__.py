"""Many points of one DAG: sweeps, searches (successive halving), their point jobs and lineages."""
