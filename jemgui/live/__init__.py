"""Broker link and signed back-channel (Qt-free; the GUI drains it on a timer)."""
