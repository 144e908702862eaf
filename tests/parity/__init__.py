"""The parity suite: every scenario on SarvanClient and AsyncSarvanClient alike."""
