"""One module per check; each registers itself with :func:`jobpulse.lint.registry.check`."""
