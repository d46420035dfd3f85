"""Migration revisions; the first is `0001_initial`, each later one names its parent."""
