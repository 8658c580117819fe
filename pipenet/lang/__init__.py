"""The front end: topology text to a validated IR.

`load(path)` is the whole front end in one call: parse (`parser`), expand
variables, loops, defaults and interpolation (`expand`), run the validation
passes (`pipenet.validate`) and assign addresses and MACs
(`pipenet.allocate`). It returns the topology or raises `InvalidTopology`
with every diagnostic found.
"""

from pipenet.lang.load import analyse, load, load_text

__all__ = ["analyse", "load", "load_text"]
