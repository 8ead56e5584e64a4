"""Real labelled spectra (RaineyAbe/glacier-snow-cover-mapping subset): units, channel mapping, and the
baseline's snow/ice/rock separation on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from glacierinv.classes import BACKGROUND, CLEAN_ICE
from glacierinv.errors import InputError
from glacierinv.segment.baseline import classify_arrays
from glacierinv.segment.checkpoint import ModelMeta
from glacierinv.segment.infer import predict_array
from glacierinv.segment.model import UNetCBAM, UNetSpec
from glacierinv.segment.real_spectra import (
    EXCLUDED_IMAGES,
    REAL_CLASSES,
    baseline_response,
    class_shares,
    convert_landsat,
    convert_sentinel2,
    model_response,
    read_spectra,
    response_table,
    stack_values,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "real_spectra"
LANDSAT = DATA / "Landsat_training_data.csv"
SENTINEL2 = DATA / "Sentinel-2_SR_training_data.csv"
SNOW, SHADOWED, ICE, ROCK, WATER = 1, 2, 3, 4, 5


@pytest.fixture(scope="module")
def landsat():
    return read_spectra(LANDSAT)


@pytest.fixture(scope="module")
def sentinel2():
    return read_spectra(SENTINEL2)


# --- units -------------------------------------------------------------------------------------------


def test_landsat_three_unit_forms_give_the_same_physical_values():
    # SR DN 20000 -> 2.75e-5 * 20000 - 0.2 = 0.55 - 0.2 = 0.35; DN 10000 -> 0.275 - 0.2 = 0.075
    # ST DN 36000 -> 0.00341802 * 36000 + 149.0 = 123.04872 + 149.0 = 272.04872 K
    raw = ([[20000.0, 10000.0]], [36000.0])
    scaled = ([[0.55, 0.275]], [0.99])  # the upstream form: every band DN * 2.75e-5, no offset
    physical = ([[0.35, 0.075]], [272.04872])
    for sr, st in (raw, scaled, physical):
        refl, lst_k, _ = convert_landsat(np.array(sr), np.array(st))
        np.testing.assert_allclose(refl, [[0.35, 0.075]], atol=1e-9)
        np.testing.assert_allclose(lst_k, [272.04872], atol=1e-6)
    rules = convert_landsat(
        np.array(raw[0] + scaled[0] + physical[0]), np.array(raw[1] + scaled[1] + physical[1])
    )[2]
    assert rules.tolist() == ["DN", "DN×2.75e-5", "physical"]


def test_landsat_first_upstream_row_by_hand():
    # Gulkana 2021-06-10, snow: SR_B2 1.459755 = DN 53082 * 2.75e-5 -> 1.459755 - 0.2 = 1.259755;
    # ST_B10 0.975645 = DN 35478 * 2.75e-5 -> 0.00341802 * 35478 + 149.0 = 270.264512 K
    refl, lst_k, rule = convert_landsat(np.array([[1.459755]]), np.array([0.975645]))
    assert refl[0, 0] == pytest.approx(1.259755, abs=1e-9)
    assert lst_k[0] == pytest.approx(270.264512, abs=1e-5)
    assert rule[0] == "DN×2.75e-5"


def test_landsat_value_in_no_unit_is_refused():
    with pytest.raises(InputError, match=r"t\.csv: 1 row\(s\) have an ST_B10 value in no known unit") as err:
        convert_landsat(np.array([[0.3], [0.3]]), np.array([0.9, 50.0]), "t.csv")
    assert "\n" not in str(err.value)


def test_sentinel2_dn_rows_divided_reflectance_rows_kept():
    refl, rule = convert_sentinel2(np.array([[1234.0, 5678.0], [0.1234, 0.5678]]))
    np.testing.assert_allclose(refl, [[0.1234, 0.5678], [0.1234, 0.5678]])
    assert rule.tolist() == ["DN/10000", "reflectance"]


def test_published_landsat_rows_are_exact_dn_multiples():
    # the claim behind the "DN×2.75e-5" rule: value / 2.75e-5 is an integer DN in every band of every row
    import pandas as pd

    table = pd.read_csv(LANDSAT)
    dn = table[[f"SR_B{i}" for i in range(2, 8)] + ["ST_B10"]].to_numpy() / 2.75e-5
    assert np.nanmax(np.abs(dn - np.round(dn))) < 0.01
    spectra = read_spectra(LANDSAT)
    assert spectra.units == {"DN×2.75e-5": len(spectra)}
    # surface temperature of the real classes (kelvin now): rock is warm, snow and ice near melting
    lst = spectra.values["lst"]
    assert 268 < np.median(lst[spectra.real_class == ICE]) < 282
    assert np.median(lst[spectra.real_class == ROCK]) > 285


# --- channel mapping ---------------------------------------------------------------------------------


def test_channel_mapping_follows_the_sensor_registry(landsat, sentinel2):
    import pandas as pd

    lt = pd.read_csv(LANDSAT).dropna(subset=["SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"])
    for ch, col in {
        "blue": "SR_B2",
        "green": "SR_B3",
        "red": "SR_B4",
        "nir": "SR_B5",
        "swir1": "SR_B6",
    }.items():
        np.testing.assert_allclose(landsat.values[ch], lt[col].to_numpy() - 0.2, atol=1e-7)
    st = pd.read_csv(SENTINEL2)
    for ch, col in {
        "blue": "B2",
        "green": "B3",
        "red": "B4",
        "nir": "B8",
        "swir1": "B11",
        "swir2": "B12",
    }.items():
        np.testing.assert_allclose(sentinel2.values[ch], st[col].to_numpy())
    assert "lst" not in sentinel2.values
    x = stack_values(landsat, ["blue", "green", "red", "nir", "swir1", "lst", "slope"], slope_deg=12.0)
    assert x.shape == (7, len(landsat))
    np.testing.assert_allclose(x[4], landsat.values["swir1"], rtol=1e-6)
    np.testing.assert_allclose(x[5], landsat.values["lst"], rtol=1e-6)
    assert (x[6] == 12.0).all()


def test_sentinel2_lst_must_be_given(sentinel2):
    with pytest.raises(InputError, match="channel 'lst' is not in the sentinel2 spectra"):
        stack_values(sentinel2, ["red", "lst"], slope_deg=12.0)
    x = stack_values(sentinel2, ["lst", "red"], slope_deg=12.0, lst_k=280.0)
    assert (x[0] == 280.0).all()


def test_real_classes_read(landsat, sentinel2):
    for sp in (landsat, sentinel2):
        assert set(np.unique(sp.real_class)) == set(REAL_CLASSES)
        assert set(np.unique(sp.site)) == {"Gulkana", "SouthCascade", "Sperry", "Wolverine"}


# --- bad input ---------------------------------------------------------------------------------------


def test_missing_band_is_one_line_naming_file_and_column(tmp_path):
    lines = LANDSAT.read_text().splitlines()
    header = lines[0].split(",")
    i = header.index("SR_B5")
    bad = tmp_path / "no_nir.csv"
    bad.write_text(
        "\n".join(",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in lines[:4])
    )
    with pytest.raises(InputError) as err:
        read_spectra(bad)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "lacks column(s) SR_B5" in msg


def test_unknown_table_and_missing_file(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="neither Landsat columns"):
        read_spectra(other)
    with pytest.raises(InputError, match="not found"):
        read_spectra(tmp_path / "absent.csv")
    lines = SENTINEL2.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("class")] = "glacier"
    bad = tmp_path / "bad_class.csv"
    bad.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    with pytest.raises(
        InputError, match=r"class codes must be 1 snow.*1 row\(s\) hold others \(first: 'glacier'\)"
    ):
        read_spectra(bad)


def test_excluded_image_and_empty_band_rows_are_dropped_and_counted(tmp_path):
    (sensor, site, date), _ = next(iter(EXCLUDED_IMAGES.items()))
    assert sensor == "sentinel2"
    lines = SENTINEL2.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    moved = row.copy()
    moved[header.index("site_name")], moved[header.index("image_date")] = site, date
    empty = row.copy()
    empty[header.index("B8")] = ""
    path = tmp_path / "s2.csv"
    path.write_text("\n".join([lines[0], lines[1], ",".join(moved), ",".join(empty)]) + "\n")
    sp = read_spectra(path)
    assert len(sp) == 1
    assert sum(sp.dropped.values()) == 2 and sp.dropped["a mapped band is empty or not a number"] == 1


# --- the baseline on real spectra --------------------------------------------------------------------


def _glacier_share(sp, pred, classes) -> float:
    sel = np.isin(sp.real_class, classes)
    return float((pred[sel] != BACKGROUND).mean())


# Thresholds (why): with SWIR, snow and ice have red/SWIR of ~20-70 against the rule's 2.0 and rock ~0.6
# (Paul et al. 2002), so the rule should miss only mixed or wet pixels: >= 85 % of sunlit snow + ice and
# <= 5 % of rock (measured on this subset: 94 % / 97 % and 2 % / 1 %, Landsat / Sentinel-2). Shadowed
# snow keeps the ratio under diffuse light; only the brightness floor cuts it: >= 60 % (77 % / 100 %).
# Water is excluded by NDWI: <= 10 % (0 % / 0 %). Without SWIR (red/NIR) the physics is weaker: old and
# dirty snow has red/NIR ≈ 1.05, at the rule's 1.06 (Sperry), so >= 70 % of snow + ice (81 % / 89 %),
# and rock (red/NIR ≈ 0.8-0.9) <= 10 % (2 % / 3 %).
@pytest.mark.parametrize("table", [LANDSAT, SENTINEL2], ids=["landsat", "sentinel2"])
def test_baseline_separates_snow_ice_from_rock_on_real_spectra(table):
    sp = read_spectra(table)
    swir = baseline_response(sp, "red/swir1")
    assert _glacier_share(sp, swir, [SNOW, ICE]) >= 0.85
    assert _glacier_share(sp, swir, [ROCK]) <= 0.05
    assert _glacier_share(sp, swir, [SHADOWED]) >= 0.60
    assert _glacier_share(sp, swir, [WATER]) <= 0.10
    vnir = baseline_response(sp, "red/nir")
    assert _glacier_share(sp, vnir, [SNOW, ICE]) >= 0.70
    assert _glacier_share(sp, vnir, [ROCK]) <= 0.10


def test_baseline_response_is_the_uniform_tile_class(sentinel2, landsat):
    # the vectorised call equals classify_arrays on a uniform 8x8 tile of each spectrum, lst and slope given
    for sp in (landsat, sentinel2):
        pred = baseline_response(sp, "red/swir1")
        idx = np.concatenate([np.flatnonzero(sp.real_class == c)[:3] for c in REAL_CLASSES])
        for i in idx:
            bands = {c: np.full((8, 8), sp.values[c][i]) for c in ("blue", "green", "red", "nir", "swir1")}
            bands["lst"] = np.full((8, 8), sp.values.get("lst", np.full(len(sp), 276.0))[i])
            bands["slope"] = np.full((8, 8), 12.0)
            classes, _ = classify_arrays(bands, pixel_m=30.0)
            assert (classes == pred[i]).all()
    assert set(np.unique(pred)) <= {BACKGROUND, CLEAN_ICE}


def test_baseline_rule_name_checked(landsat):
    with pytest.raises(InputError, match="rule must be"):
        baseline_response(landsat, "ndsi")


# --- model response ----------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """One torch thread for these tiny forward passes (restored after): on a shared, oversubscribed
    machine two OpenMP threads of a tiny model wait on each other ~50x longer than they compute."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_model(channels):
    torch.manual_seed(0)
    spec = UNetSpec(in_channels=len(channels), n_classes=3, base_width=4, depth=2)
    meta = ModelMeta(
        spec=spec,
        channels=list(channels),
        norm_mean=[0.5, 0.5, 0.5, 0.4, 276.0, 20.0],
        norm_std=[0.3, 0.3, 0.3, 0.25, 10.0, 10.0],
        tile_px=32,
        temperature=1.7,
    )
    return UNetCBAM(spec).eval(), meta


def test_model_response_equals_inference_on_a_uniform_stack(landsat, one_thread):
    channels = ["blue", "green", "red", "nir", "lst", "slope"]
    model, meta = _tiny_model(channels)
    few = landsat.take(np.array([int(np.flatnonzero(landsat.real_class == c)[0]) for c in REAL_CLASSES]))
    assert few.real_class.tolist() == list(REAL_CLASSES)
    classes, proba, source = model_response(few, model, meta, slope_deg=12.0, tile_px=16, batch_size=2)
    assert source == "ST_B10" and proba.shape == (len(few), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    x = stack_values(few, channels, slope_deg=12.0)
    for i in range(len(few)):
        stack = np.broadcast_to(x[:, i, None, None], (6, 16, 16)).copy()
        ref = predict_array(stack, model, meta, tile_px=16, overlap_px=0, precision="fp32", batch_size=1)
        np.testing.assert_allclose(ref.proba[:, 8, 8], proba[i], atol=1e-5)
        assert ref.classes[8, 8] == classes[i]


def test_model_response_sentinel2_uses_training_mean_lst(sentinel2, one_thread):
    model, meta = _tiny_model(["blue", "green", "red", "nir", "lst", "slope"])
    sentinel2 = sentinel2.take(np.arange(0, len(sentinel2), 25))
    _, p_default, source = model_response(sentinel2, model, meta, slope_deg=12.0, tile_px=16)
    assert source == "training mean"
    _, p_given, source = model_response(sentinel2, model, meta, slope_deg=12.0, lst_k=276.0, tile_px=16)
    assert source == "given"
    np.testing.assert_allclose(p_default, p_given, atol=1e-6)  # 276.0 K is the tiny model's training mean


# --- tables ------------------------------------------------------------------------------------------


def test_class_shares_and_table():
    real = np.array([1, 1, 1, 1, 4, 4])
    pred = np.array([1, 1, 1, 0, 0, 2], "uint8")
    shares = class_shares(real, pred)
    assert set(shares) == {"snow", "rock/debris"}
    n, s = shares["snow"]
    assert n == 4 and s.tolist() == [0.25, 0.75, 0.0]
    with pytest.raises(InputError, match="predicted classes"):
        class_shares(real, np.array([255, 1, 1, 1, 1, 1], "uint8"))


def test_response_table_rows(landsat):
    text = response_table(landsat, {"baseline": baseline_response(landsat)})
    lines = text.splitlines()
    assert lines[0] == "| real class (n) | baseline |"
    assert len(lines) == 2 + len(REAL_CLASSES)
    n_snow = int((landsat.real_class == SNOW).sum())
    assert lines[2].startswith(f"| snow ({n_snow}) | ")
