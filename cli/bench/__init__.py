"""``sarvanom-bench``: latency and throughput per provider through the SDK, optionally
beside the same requests sent raw. The command is :mod:`.command`; the other modules
each do one job:

* :mod:`.targets` — settings, which providers, the emulator child process;
* :mod:`.run` — a whole run (warm-up, SDK and raw phases) into a ``Result``;
* :mod:`.calls` — one benchmarked request (SDK or raw, sync or async);
* :mod:`.drive` — N calls at a concurrency, and progress on stderr;
* :mod:`.stats` — outcomes, phases, summaries, percentiles;
* :mod:`.report` — the text table, JSON and CSV;
* :mod:`.html_report` — the self-contained HTML page.

Importing this package loads only click (the SDK is imported when a run starts).
"""

from .command import bench, main

__all__ = ["bench", "main"]
