"""pytest plugin exposing the ``transfer_sandbox`` fixture (filled in by the sandbox work)."""
