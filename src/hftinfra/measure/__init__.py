"""Active measurements: they take time on a live host (a sampling window, a busy loop) but
change nothing. A snapshot holds one reading, so they answer ``unsupported`` there."""
