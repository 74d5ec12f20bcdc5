"""Qt widgets and item models; each view shows a model and changes only it."""
