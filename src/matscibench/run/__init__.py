"""Plan, execute, record: the engine that turns a suite into stored results."""
