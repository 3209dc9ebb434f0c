"""Example strategies files, shipped with the package.

:data:`STRATEGIES_TOML` runs the three built-ins on the simulator's default symbols; point
``STRATEGIES_FILE`` at it, or copy it as a starting point.
"""

from pathlib import Path

#: The example strategies file.
STRATEGIES_TOML = Path(__file__).with_name("strategies.toml")
