"""Where the CPU went during a measurement, per request or event (Linux, from /proc).

Each server process's CPU time (user + system, ``/proc/<pid>/stat``) grouped by role:
the gunicorn workers and the event writer process; and the whole machine's busy and
idle time (``/proc/stat``), which also counts wrk and the kernel's network work. This
virtual machine's speed varies up to 2x within minutes; CPU per event varies far less
than events per second, so these figures are the ones to compare between runs.
"""

import os
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def role(command):
    """``writer``, ``worker`` or ``None`` for a process of the server, by its command line."""
    if "events" in command and "writer" in command:
        return "writer"
    if any("gunicorn" in part for part in command):
        return "worker"
    return None


def server_processes(root_pid, proc=PROC):
    """``{pid: role}`` of the children of the gunicorn master ``root_pid``."""
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if parent == root_pid and role(command):
            found[int(entry.name)] = role(command)
    return found


def process_seconds(pid, proc=PROC):
    """A process's user + system CPU seconds so far (0 once it has exited)."""
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def machine_seconds(proc=PROC):
    """``(busy, idle)`` CPU seconds of the whole machine so far (``steal`` is neither)."""
    fields = [int(value) for value in (proc / "stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / TICKS, (idle + iowait) / TICKS


class CpuMeter:
    """CPU used by the server's processes and the machine between ``__enter__`` and
    ``__exit__``; ``per_unit(n)`` divides it by the requests or events measured."""

    def __init__(self, root_pid, proc=PROC):
        self.root_pid = root_pid
        self.proc = proc
        self.roles = {}
        self.before = self.after = None

    def _snapshot(self):
        processes = {pid: process_seconds(pid, self.proc) for pid in self.roles}
        return processes, machine_seconds(self.proc)

    def __enter__(self):
        self.roles = server_processes(self.root_pid, self.proc)
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc):
        self.after = self._snapshot()

    def per_unit(self, units):
        """µs of CPU per unit: ``workers``, ``writer``, ``machine`` (busy), and the
        machine's ``idle`` share of the time (0-1)."""
        (before, (busy0, idle0)), (after, (busy1, idle1)) = self.before, self.after
        used = {"worker": 0.0, "writer": 0.0}
        for pid, name in self.roles.items():
            used[name] += max(after[pid] - before[pid], 0.0)
        busy, idle = busy1 - busy0, idle1 - idle0
        scale = 1e6 / max(units, 1)
        return {
            "workers": used["worker"] * scale,
            "writer": used["writer"] * scale,
            "machine": busy * scale,
            "idle": idle / (busy + idle) if busy + idle else 0.0,
        }
