"""analysis stage of glacierinv."""
