"""The benchmark's CPU accounting (bench/cpu.py), on a made-up /proc."""

import pytest

from bench import cpu


def fake_process(proc, pid, parent, command, utime=0, stime=0):
    directory = proc / str(pid)
    directory.mkdir(exist_ok=True)
    # Fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt
    # majflt cmajflt utime stime ...
    rest = ["S", str(parent)] + ["0"] * 9 + [str(utime), str(stime)] + ["0"] * 10
    (directory / "stat").write_text(f"{pid} (a name (with) parens) {' '.join(rest)}\n")
    (directory / "cmdline").write_bytes("\0".join(command).encode() + b"\0")


def fake_machine(proc, busy, idle):
    # user nice system idle iowait irq softirq steal
    (proc / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 7\ncpu0 0 0 0 0 0 0 0 0\n")


@pytest.fixture
def proc(tmp_path):
    fake_machine(tmp_path, busy=1000, idle=100)
    fake_process(tmp_path, 10, 1, ["/venv/bin/gunicorn", "--workers", "2", "app:create_app()"])
    fake_process(tmp_path, 11, 10, ["gunicorn: worker [app:create_app()]"], 100, 50)
    fake_process(tmp_path, 12, 10, ["/venv/bin/gunicorn", "--workers", "2"], 200, 0)
    fake_process(
        tmp_path, 13, 10, ["/venv/bin/python", "-m", "flask", "--app", "app", "events", "writer"]
    )
    fake_process(tmp_path, 14, 10, ["/bin/sh", "-c", "something else"])
    fake_process(tmp_path, 15, 1, ["/venv/bin/gunicorn", "another server's worker"])
    return tmp_path


def test_finds_the_server_processes_by_role(proc):
    assert cpu.server_processes(10, proc) == {11: "worker", 12: "worker", 13: "writer"}


def test_cpu_per_unit_by_role_and_for_the_machine(proc):
    with cpu.CpuMeter(10, proc) as meter:
        fake_process(proc, 11, 10, ["gunicorn: worker"], 100 + 30, 50 + 10)
        fake_process(proc, 12, 10, ["gunicorn: worker"], 200 + 60, 0)
        fake_process(proc, 13, 10, ["python", "-m", "flask", "events", "writer"], 20, 0)
        fake_machine(proc, busy=1000 + 150, idle=100 + 50)
    figures = meter.per_unit(1000)
    ticks = 1e6 / cpu.TICKS / 1000  # µs per tick, per unit
    assert figures["workers"] == pytest.approx(100 * ticks)
    assert figures["writer"] == pytest.approx(20 * ticks)
    assert figures["machine"] == pytest.approx(150 * ticks)
    assert figures["idle"] == pytest.approx(50 / 200)


def test_a_process_that_exits_during_the_measurement_adds_nothing_not_a_negative(proc):
    with cpu.CpuMeter(10, proc) as meter:
        (proc / "13" / "stat").unlink()
    figures = meter.per_unit(10)
    assert figures["writer"] == 0
    assert figures["workers"] == 0
