"""Qt-free data layer: reading, indexing and replaying JEM records. Never imports Qt."""
