"""preprocess stage of glacierinv."""
