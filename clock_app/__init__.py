"""clock_app: a pay-to-commit early-rise challenge ("clock every day and carve up cash") for Django."""

__version__ = "0.2.0"
