"""``jobpulse demo``: an example app, a synthetic workload, Prometheus and a live view, in one command."""

from jobpulse.demo.example import Example, ExampleError, find_example, load_example
from jobpulse.demo.runner import DEMO_DIR, DemoError, DemoOptions, print_summary, run_demo
from jobpulse.demo.view import DemoSummary

__all__ = [
    "DEMO_DIR",
    "DemoError",
    "DemoOptions",
    "DemoSummary",
    "Example",
    "ExampleError",
    "find_example",
    "load_example",
    "print_summary",
    "run_demo",
]
