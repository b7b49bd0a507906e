"""What a summary's code record must say: this checkout's commit and library versions. The dirty flag is left out:
it is read when the run starts, and a developer editing files while the suite runs would flip it in between."""

from parley.code_version import code_version


def records_this_code(recorded: dict) -> bool:
    now = code_version()
    return recorded["commit"] == now["commit"] and recorded["libraries"] == now["libraries"] and "dirty" in recorded
