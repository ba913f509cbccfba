"""The local lab passes run after run: no flaky check, no leftover that breaks the next run.

`make soak` runs it 10 times in a row (about 2-3 minutes); here 3 runs keep `make test` short.
"""

from tests import soak

RUNS = 3


def test_local_suite_passes_three_times_in_a_row(capsys):
    code = soak.main(["--runs", str(RUNS)])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    assert f"{RUNS} runs in a row passed" in out
