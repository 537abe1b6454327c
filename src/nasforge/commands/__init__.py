"""CLI sub-commands kept in their own modules (see ``cli.COMMAND_MODULES``)."""
