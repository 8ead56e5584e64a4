"""assess stage of glacierinv."""
