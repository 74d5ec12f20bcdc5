"""A job that claims sys.monitoring tool ids itself (3.12+), as a profiler or a coverage
tool of its own would, and counts its calls with them; then makes more calls."""

import sys


def work(i):
    return i + 1


seen = []
if hasattr(sys, "monitoring"):
    M = sys.monitoring
    print("free before", [M.get_tool(i) for i in range(6)])
    for tool in (4, 3):
        M.use_tool_id(tool, f"job-{tool}")
    M.register_callback(4, M.events.PY_START, lambda code, offset: seen.append(code.co_name))
    M.set_events(4, M.events.PY_START)
    print("tools", [M.get_tool(i) for i in range(6)])
print("results", [work(i) for i in range(3)])
if hasattr(sys, "monitoring"):
    M.set_events(4, 0)
    print("job saw", seen.count("work"), "calls of work")
print("more", [work(i) for i in range(3, 6)])
