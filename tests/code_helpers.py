"""What a summary's run record must say: this checkout's commit and library versions, parley's version, and when it
started and ended. The dirty flag is left out: it is read when the run starts, and a developer editing files while
the suite runs would flip it in between."""

from parley import __version__
from parley.code_version import code_version


def stamped_by_this_code(record: dict) -> bool:
    """``record``: the dict holding the stamp's fields (a summary, or an arena summary's ``config``)."""
    now, code = code_version(), record["code"]
    return (code["commit"] == now["commit"] and code["libraries"] == now["libraries"] and "dirty" in code
            and record["version"] == __version__ and record["started"] <= record["created"])
