"""report stage of glacierinv."""
