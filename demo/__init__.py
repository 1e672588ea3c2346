"""A demo component server instrumented with `exporter.instrument` (see `make demo`)."""
