"""``python -m edgernn`` is the ``edgernn`` command."""

from edgernn.cli import main

main(prog_name="edgernn")
