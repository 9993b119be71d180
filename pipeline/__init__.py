"""The work of the pipeline: plain functions over numpy arrays and PyTensor graphs.

Nothing in this package imports luigi or joblib; ``tasks/`` wires these
functions into a DAG and owns storage.
"""
