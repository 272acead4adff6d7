"""Importers: other tools' formats → the jobpulse spec."""
