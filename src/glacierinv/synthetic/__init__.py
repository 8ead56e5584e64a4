"""synthetic stage of glacierinv."""
