"""Issue 13's audit, rerun: the leftovers it found in the fixes (out-of-memory wording, damaged logs in show,
resume --set, long references), each through the function or the real CLI."""

from __future__ import annotations

from sslterm import config
from sslterm.worker import describe_failure

CPU_OOM = ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to "
           "allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)")


def test_cpu_allocator_out_of_memory_names_the_size_to_lower() -> None:
    exp = config.Experiment()
    msg = describe_failure(RuntimeError(CPU_OOM), 64, data=exp.data)
    assert "enforce fail" not in msg and "alloc_cpu.cpp" not in msg, msg
    assert "DefaultCPUAllocator: not enough memory" in msg and ("train.batch_size" in msg or "data." in msg), msg
    assert "\n" not in msg


def test_a_memory_error_and_a_multi_line_error_are_one_line() -> None:
    assert "try --set train.batch_size=32" in describe_failure(MemoryError(), 64, data=config.Experiment().data)
    assert describe_failure(RuntimeError("first\nsecond\nPlease file an issue"), 8) == "RuntimeError: first"
