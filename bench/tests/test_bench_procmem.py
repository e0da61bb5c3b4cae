"""Process-tree memory finds children and adds their memory up."""

import os
import subprocess
import sys

from procmem import tree_memory, tree_pids


def test_tree_includes_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in tree_pids(os.getpid())
        alone = tree_memory(child.pid)
        together = tree_memory(os.getpid())
        assert alone.processes == 1 and together.processes >= 2
        assert together.rss_kib > alone.rss_kib > 0
    finally:
        child.kill()
        child.wait(timeout=10)
