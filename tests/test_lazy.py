"""glacierinv.lazy: a package's names load from their submodule on access, fresh each time."""

from __future__ import annotations

import pytest


def test_lazy_names_resolve_fresh_and_unknown_names_fail():
    import glacierinv.dem as dem
    import glacierinv.pipeline as pipeline
    from glacierinv.pipeline import registry

    assert dem.nmad.__module__ == "glacierinv.dem.stats"
    assert "run_pipeline" in dir(pipeline) and "nmad" in dir(dem)
    before = registry.STAGE_NAMES
    try:
        registry.STAGE_NAMES = (*before, "x")  # a rebinding in the submodule is what the package shows
        assert pipeline.STAGE_NAMES[-1] == "x"
    finally:
        registry.STAGE_NAMES = before
    assert pipeline.STAGE_NAMES == before
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pipeline.nope  # noqa: B018
