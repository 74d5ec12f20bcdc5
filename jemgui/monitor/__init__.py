"""The job-side monitor: runs on worker nodes, never imports Qt."""
