"""One module per source; each exposes a Collector subclass (see exporter.runtime)."""
