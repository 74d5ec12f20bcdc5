"""JEM Inspector: record, replay and steer batch and grid jobs."""

__version__ = "0.1.0"
