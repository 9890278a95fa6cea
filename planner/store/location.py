"""Where the plan store lives when no ``--store`` is given (no imports: the CLI reads it)."""

DEFAULT_STORE = "fleet_plans.db"  # in the working folder
