"""Command modules of the ``autovoice`` command line.

Each module has ``register(subparsers)``, which adds its sub-commands and sets ``func`` on each
to a function ``(args) -> exit code``. Commands parse, call library functions and print: the work
lives in the library, so programs can do the same without the shell.
"""

COMMAND_MODULES = (
    "autovoice.commands.plugins",
    "autovoice.commands.config",
    "autovoice.commands.corpus",
    "autovoice.commands.prepare",
    "autovoice.commands.checkpoints",
    "autovoice.commands.train",
    "autovoice.commands.export",
    "autovoice.commands.info",
    "autovoice.commands.synthesize",
    "autovoice.commands.convert",
    "autovoice.commands.voices",
    "autovoice.commands.demo",
    "autovoice.commands.serve",
)
