"""riverbed's benchmarks: each module's ``run(repeats)`` measures ours against a baseline in the
same run and returns entries in the format of DESIGN.md ("Contracts"). ``python -m bench``
runs them all and writes ``bench/results.json`` and ``bench/README.md``."""
