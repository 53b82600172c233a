"""seqattn.runtime.allocator: when a command runs again under tcmalloc, and that it then does."""

import os
import subprocess
import sys

import pytest

from seqattn.runtime import allocator

LIB = "libtcmalloc_minimal.so.4"


def test_the_command_runs_again_once_with_the_library_added_unless_the_user_says_system():
  env = allocator.preloaded_env({"PATH": "/bin", "LD_PRELOAD": "libmine.so"}, LIB)
  assert env == {"PATH": "/bin", "LD_PRELOAD": f"libmine.so {LIB}"}
  assert allocator.preloaded_env({allocator.ENV: "tcmalloc"}, LIB) == {allocator.ENV: "tcmalloc",
                                                                       "LD_PRELOAD": LIB}
  assert allocator.preloaded_env(env, LIB) is None  # the re-run process goes on as it is
  assert allocator.preloaded_env({"LD_PRELOAD": "/opt/libtcmalloc.so"}, LIB) is None  # the user's
  assert allocator.preloaded_env({allocator.ENV: "system"}, LIB) is None
  assert allocator.preloaded_env({}, None) is None  # not installed: nothing changes
  with pytest.raises(ValueError, match="SEQATTN_MALLOC='glibc' is not valid; use one of "
                                       "tcmalloc, system"):
    allocator.preloaded_env({allocator.ENV: "glibc"}, LIB)


def _run(**env) -> str:
  script = ("import pathlib, sys; from seqattn.runtime import allocator; allocator.use_tcmalloc(); "
            "print(allocator.name(), 'tcmalloc' in pathlib.Path('/proc/self/maps').read_text(), "
            "sys.argv[1:])")
  clean = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", allocator.ENV)}
  return subprocess.run([sys.executable, "-c", script, "a", "b c"], env=dict(clean, **env),
                        capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(allocator.find_tcmalloc() is None,
                    reason="tcmalloc is not installed (apt install libtcmalloc-minimal4)")
def test_use_tcmalloc_runs_the_same_command_under_tcmalloc():
  assert _run() == "tcmalloc True ['a', 'b c']"
  assert _run(**{allocator.ENV: "system"}) == "system False ['a', 'b c']"
  # A library the loader cannot preload is skipped (with its warning): not reported as loaded.
  assert _run(LD_PRELOAD="libtcmalloc_absent.so.4") == "system False ['a', 'b c']"
