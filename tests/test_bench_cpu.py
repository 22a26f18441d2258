"""The benchmark's CPU accounting (bench/cpu.py), on a made-up /proc."""

import pytest

from bench import cpu

WRITER = ["/venv/bin/python", "-m", "flask", "--app", "app", "events", "writer"]


def fake_process(proc, pid, parent, command, utime=0, stime=0, start=1000):
    directory = proc / str(pid)
    directory.mkdir(exist_ok=True)
    # After the command's parentheses: state ppid pgrp session tty_nr tpgid flags minflt
    # cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads
    # itrealvalue starttime ...
    rest = ["S", str(parent)] + ["0"] * 9 + [str(utime), str(stime)] + ["0"] * 6
    rest += [str(start)] + ["0"] * 10
    (directory / "stat").write_text(f"{pid} (x) R 99 (y) {' '.join(rest)}\n")
    (directory / "cmdline").write_bytes("\0".join(command).encode() + b"\0")


def fake_machine(proc, user=0, nice=0, system=0, idle=0, iowait=0, irq=0, softirq=0, steal=0):
    guest = guest_nice = steal * 3  # already inside user and nice: counted by neither
    fields = (user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice)
    (proc / "stat").write_text(f"cpu  {' '.join(map(str, fields))}\ncpu0 0 0 0 0 0 0 0 0\n")


@pytest.fixture
def proc(tmp_path):
    fake_machine(tmp_path, user=1000, idle=100)
    fake_process(tmp_path, 10, 1, ["/venv/bin/gunicorn", "--workers", "2", "app:create_app()"])
    fake_process(tmp_path, 11, 10, ["gunicorn: worker [app:create_app()]"], 100, 50)
    fake_process(tmp_path, 12, 10, ["/venv/bin/gunicorn", "--workers", "2"], 200, 0)
    fake_process(tmp_path, 13, 10, WRITER, 70, 0)
    fake_process(tmp_path, 14, 10, ["/bin/sh", "-c", "something else"], 500, 0)
    fake_process(tmp_path, 15, 1, ["/venv/bin/gunicorn", "another server's worker"], 500, 0)
    return tmp_path


def per_tick(units):
    """µs per unit of one clock tick."""
    return 1e6 / cpu.TICKS / units


def test_finds_the_server_processes_by_role(proc):
    assert cpu.server_processes(10, proc) == {
        (11, 1000): ("worker", 150 / cpu.TICKS),
        (12, 1000): ("worker", 200 / cpu.TICKS),
        (13, 1000): ("writer", 70 / cpu.TICKS),
    }


def test_cpu_per_unit_by_role(proc):
    with cpu.CpuMeter(10, proc) as meter:
        fake_process(proc, 11, 10, ["gunicorn: worker"], 100 + 30, 50 + 10)
        fake_process(proc, 12, 10, ["gunicorn: worker"], 200 + 60, 0)
        fake_process(proc, 13, 10, WRITER, 70 + 20, 0)
        fake_process(proc, 14, 10, ["/bin/sh", "-c", "something else"], 900, 0)
        fake_process(proc, 15, 1, ["/venv/bin/gunicorn", "another"], 900, 0)
    figures = meter.per_unit(1000)
    assert figures["workers"] == pytest.approx(100 * per_tick(1000))
    assert figures["writer"] == pytest.approx(20 * per_tick(1000))
    assert figures["changed"] is False


def test_the_machine_counts_busy_and_idle_time_but_not_steal_or_guest(proc):
    fake_machine(proc, 1, 2, 3, 4, 5, 6, 7, 8)
    with cpu.CpuMeter(10, proc) as meter:
        fake_machine(proc, 1 + 10, 2 + 20, 3 + 30, 4 + 40, 5 + 50, 6 + 60, 7 + 70, 8 + 80)
    figures = meter.per_unit(10)
    busy, idle = 10 + 20 + 30 + 60 + 70, 40 + 50  # user nice system irq softirq; idle iowait
    assert figures["machine"] == pytest.approx(busy * per_tick(10))
    assert figures["idle"] == pytest.approx(idle / (busy + idle))


def test_a_restarted_worker_is_reported_and_its_replacement_counted_whole(proc):
    with cpu.CpuMeter(10, proc) as meter:
        (proc / "11" / "stat").unlink()  # exited, its CPU meanwhile lost with it
        fake_process(proc, 16, 10, ["gunicorn: worker"], 40, 0, start=2000)
        fake_process(proc, 12, 10, ["gunicorn: worker"], 200 + 60, 0)
    figures = meter.per_unit(1)
    assert figures["workers"] == pytest.approx((40 + 60) * per_tick(1))
    assert figures["changed"] is True


def test_a_reused_pid_is_a_new_process(proc):
    with cpu.CpuMeter(10, proc) as meter:
        fake_process(proc, 13, 10, WRITER, 5, 0, start=3000)  # the writer, replaced
    figures = meter.per_unit(1)
    assert figures["writer"] == pytest.approx(5 * per_tick(1))  # not 5 - 70
    assert figures["changed"] is True


def test_without_a_writer_process_its_column_is_not_a_zero(proc):
    (proc / "13" / "stat").unlink()
    (proc / "13" / "cmdline").unlink()
    with cpu.CpuMeter(10, proc) as meter:
        pass
    assert meter.per_unit(1)["writer"] is None
