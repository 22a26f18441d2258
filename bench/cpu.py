"""Where the CPU went during a measurement, per request or event (Linux, from /proc).

Each server process's CPU time (user + system, ``/proc/<pid>/stat``) grouped by role:
the gunicorn workers and the event writer process; and the whole machine's busy and
idle time (``/proc/stat``), which also counts wrk, the gunicorn master, the kernel's
network work and, on PostgreSQL, the database server. The figures show where a run's
time went between the server's processes; across runs they move with this virtual
machine's speed much as the rates do.
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
    """``{(pid, start): (role, cpu seconds)}`` of the children of the gunicorn master
    ``root_pid``: each one's user + system CPU so far, keyed by its pid and when it
    started (clock ticks since boot), so that a reused pid is another process."""
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The fields after the command's parentheses: ppid is the line's 4th field,
            # utime, stime and starttime its 14th, 15th and 22nd (1, 11, 12, 19 here).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # exited meanwhile
        name = role(command)
        if int(fields[1]) == root_pid and name:
            seconds = (int(fields[11]) + int(fields[12])) / TICKS
            found[int(entry.name), int(fields[19])] = (name, seconds)
    return found


def machine_seconds(proc=PROC):
    """``(busy, idle)`` CPU seconds of the whole machine so far (``steal`` is neither)."""
    fields = [int(value) for value in (proc / "stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / TICKS, (idle + iowait) / TICKS


class CpuMeter:
    """CPU used by the server's processes and the machine between ``__enter__`` and
    ``__exit__``; ``per_unit(n)`` divides it by the requests or events measured.

    A server process that exits during the measurement (a worker restarted, the writer
    replaced) takes the CPU it used meanwhile with it; a process started meanwhile counts
    whole. Either way ``per_unit`` reports ``changed``, and the figures are incomplete.
    """

    def __init__(self, root_pid, proc=PROC):
        self.root_pid = root_pid
        self.proc = proc
        self.before = self.after = None

    def _snapshot(self):
        return server_processes(self.root_pid, self.proc), machine_seconds(self.proc)

    def __enter__(self):
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc):
        self.after = self._snapshot()

    def per_unit(self, units):
        """µs of CPU per unit: ``workers``, ``writer`` (``None`` when no writer process
        ran: its work was then the workers'), ``machine`` (busy); the machine's ``idle``
        share of the time (0-1, waiting for I/O included); ``changed``: whether a server
        process exited or started during the measurement."""
        (before, (busy0, idle0)), (after, (busy1, idle1)) = self.before, self.after
        used = {"worker": 0.0, "writer": 0.0}
        for identity, (name, seconds) in after.items():
            started = before.get(identity, (name, 0.0))[1]
            used[name] += seconds - started
        busy, idle = busy1 - busy0, idle1 - idle0
        scale = 1e6 / max(units, 1)
        roles = {name for name, _seconds in [*before.values(), *after.values()]}
        return {
            "workers": used["worker"] * scale,
            "writer": used["writer"] * scale if "writer" in roles else None,
            "machine": busy * scale,
            "idle": idle / (busy + idle) if busy + idle else 0.0,
            "changed": before.keys() != after.keys(),
        }
