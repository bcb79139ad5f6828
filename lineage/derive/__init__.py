"""Derivation: the pure fold of events into changes (`fold`), the store that joins them into the graph's rows
(`store`), and the queue that feeds it (`queue`)."""
