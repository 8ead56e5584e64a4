"""outlines stage of glacierinv."""
