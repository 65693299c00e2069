from dsr.cli import run

run()
