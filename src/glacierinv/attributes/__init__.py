"""attributes stage of glacierinv."""
