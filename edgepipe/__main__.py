"""Allow `python -m edgepipe`."""

from edgepipe.cli import main

main()
