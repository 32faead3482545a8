"""`keep_freed_memory`: after it, freeing and allocating a large block again
costs no page faults (glibc would otherwise unmap it and map it anew)."""

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import resource
import numpy as np
from keras_seq2seq.backend.glibc_malloc import keep_freed_memory

def faults(rounds):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        block = np.ones(2**24, np.float32)  # 64 MiB, above any mmap threshold
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

faults(1)
before = faults(5)
applied = keep_freed_memory()
faults(1)
print(applied, before, faults(5))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_large_blocks_are_reused_without_page_faults():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    applied, before, after = done.stdout.split()
    assert applied == "True"
    # At least one fault per page mapped anew, pages of 2 MiB at most
    # (numpy asks for transparent huge pages): 160 for 5 blocks of 64 MiB.
    assert int(before) >= 5 * 2**26 // 2**21, done.stdout
    assert int(after) * 20 < int(before), done.stdout
