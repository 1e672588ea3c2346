"""The status page: why each component class scales (or does not), live.

- `board`     `StatusBoard`: reads each class's signals through the metrics-API provider
              and runs the HPA algorithm every collection interval, with per-class history
- `signals`   one signal read the way the HPA reads it
- `targets`   collector targets, collectors' health, live HPA status (from the snapshot)
- `describe`  the JSON shapes; `page` the HTML; `sparkline` the bounded series and SVG
- `app`       `StatusApp`: `/` and `/status.json` as a plain ASGI app
- `explain`   `exporter explain`: the document as one sentence per class
"""

from exporter.status.app import StatusApp
from exporter.status.board import StatusBoard

__all__ = ["StatusApp", "StatusBoard"]
