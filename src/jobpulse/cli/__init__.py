"""The ``jobpulse`` command line: one module per command."""
