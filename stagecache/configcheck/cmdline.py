"""Check every value given on the command line (``--Task-param VALUE``, or ``--param VALUE`` of the
root task) as luigi will parse it, naming the flag: luigi itself reports a bad one as an error in
"the default value", which the file check would then blame on luigi.cfg."""

from __future__ import annotations

from stagecache.configcheck.files import flag_values, invalid


def check_command_line(task_args: list[str]) -> list[str]:
    """One problem per command-line value that does not parse: ``--Task-epochs: 'nan' is not valid: ...``."""
    problems = []
    for flag, _section, _key, param, raw in flag_values(task_args):
        if not isinstance(raw, str):  # a flag given without a value (a boolean switch)
            continue
        wrong = invalid(param, raw)
        if wrong is not None:
            problems.append(f"{flag}: {raw!r} is not valid: {wrong}")
    return problems
