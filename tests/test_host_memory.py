"""glibc keeps freed memory on CPU runs (training.cpu_keep_freed_memory); elsewhere nothing changes."""

from __future__ import annotations

import ctypes.util
import platform

import numpy as np
import pytest

from desed_task.config.files import ConfigError, load_config
from desed_task.experiment.host_memory import keep_freed_memory
from conftest import CONFS_DIR


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_settings_and_large_buffers_still_work():
    assert keep_freed_memory() is True
    for _ in range(3):  # 64 MB buffers, above glibc's largest mmap threshold, now come from the heap
        buffer = np.ones(8_000_000)
        assert buffer.sum() == 8_000_000
        del buffer


def test_without_a_c_library_that_has_mallopt_nothing_changes(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "/nonexistent/libc.so.6")
    assert keep_freed_memory() is False


def test_the_key_is_a_boolean(tmp_path):
    assert load_config(CONFS_DIR / "stage1.yaml")["training"]["cpu_keep_freed_memory"] is True
    with pytest.raises(ConfigError, match="training.cpu_keep_freed_memory"):
        load_config(CONFS_DIR / "stage1.yaml", {"training.cpu_keep_freed_memory": "yes"})
