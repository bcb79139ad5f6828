"""The read side: node identity (`identity`), what a reader may see (`visible`), the walk over the stored graph
(`traversal`), pure graph algorithms (`graph`), JSON shapes (`shapes`), page queries (`pages`), lineage reports."""
