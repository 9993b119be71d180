"""Comparing configurations: one summary per configuration (``points``), tables over them (``compare``)
and the page of a sweep (``sweep_report``). Plain functions over the stages' artifacts."""
