"""One module per `jemgui` sub-command (see `jemgui.cli`)."""
