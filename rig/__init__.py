"""Everything that touches a device or a person: the board's contract, targets, transports,
miniports, measurements, the CLI and the pytest plugin."""
