"""dem stage of glacierinv."""
