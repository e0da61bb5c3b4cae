"""bench_io_path.py: the in-process driver of the I/O thread's per-request work."""

from __future__ import annotations

import bench_io_path

APP = """
local api = rover.server {}
function api.hello.get(ctx) return { message = "Hello World" } end
function api.slow.get(ctx)
  local t = os.clock() + 0.002
  while os.clock() < t do end
  return "done"
end
return api
"""


def test_reports_the_cost_of_an_inline_handler(tmp_path, capsys):
    app = tmp_path / "app.lua"
    app.write_text(APP)
    code = bench_io_path.main(["--app", str(app), "--connections", "5", "--rounds", "20",
                               "--repeats", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    best = float(out.split(": ", 1)[1].split(" ", 1)[0])
    assert 0 < best < 1000, out


def test_refuses_a_handler_that_stays_on_the_workers(tmp_path, capsys):
    # 2 ms of Lua never qualifies for the I/O thread: its answers never come
    # back during a round, and the driver says so instead of timing nothing.
    app = tmp_path / "app.lua"
    app.write_text(APP)
    code = bench_io_path.main(["--app", str(app), "--path", "/slow", "--connections", "2",
                               "--rounds", "3", "--repeats", "1"])
    assert code == 1
    assert "did not run inline" in capsys.readouterr().err
