"""The engine's own tests: a toy three-stage DAG (``toydag``, no PyTensor, no data download) run
through every promise stagecache makes, on a directory root and on an ``s3://`` root."""
