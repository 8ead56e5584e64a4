"""units stage of glacierinv."""
