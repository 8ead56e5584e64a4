"""segment stage of glacierinv."""
