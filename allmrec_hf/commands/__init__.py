"""The entry points of the example scripts: their argument dataclasses and the run of each stage."""
