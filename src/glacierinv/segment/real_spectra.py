"""Labelled point spectra → stack channels, and how the classifiers label each spectrum on its own.

A check of the classifiers on *real* reflectances: expert-labelled pixel spectra (snow, shadowed snow,
ice, rock/debris, water) sampled from Landsat 8/9 and Sentinel-2 surface-reflectance images of USGS
benchmark glaciers (Gulkana and Wolverine, Alaska; South Cascade, Washington; Sperry, Montana), as
published by Aberle et al. in `RaineyAbe/glacier-snow-cover-mapping` (MIT licence:
``inputs-outputs/models_training_data/{Landsat,Sentinel-2_SR}_training_data.csv``). A subset ships in
``tests/data/real_spectra/``.

Units of the published tables (worked out from the upstream notebook ``develop_classifiers.ipynb``,
which divides the downloaded GeoTIFFs by its ``image_scalar``, and verified row by row):

- **Landsat** (Collection 2 Level-2, ``SR_B1``-``SR_B7``, ``ST_B10``): every band, ``ST_B10`` included,
  holds ``DN × 2.75e-5`` (``image_scalar = 1/2.75e-5``) *without* the −0.2 offset, so all values are 0.2
  too high (snow ≈ 1.0-1.4) and ``ST_B10`` is not in kelvin (≈ 0.9-1.3). The DN is recovered as
  ``value / 2.75e-5`` (an integer in every published row) and converted with the USGS Level-2 scale
  factors (:data:`glacierinv.preprocess.sensors.landsat.L2_SR`, ``L2_ST``): reflectance
  ``2.75e-5·DN − 0.2``, temperature ``0.00341802·DN + 149.0`` K. A row is read by its ``ST_B10``: ≤ 1.81
  (= 65535 × 2.75e-5) is this scaled form, 149-373.1 K is already physical, ≥ 1000 is a raw DN.
- **Sentinel-2** (``COPERNICUS/S2_SR_HARMONIZED``, ``B1``-``B12``): ``DN / 10000``, i.e. reflectance
  already (the harmonised collection removes the baseline-04.00 offset; these 2021 images predate it).
  A row whose largest value exceeds 2.5 is taken as raw DN and divided by 10000.

Reflectances above 1 or slightly below 0 are kept as they are (the glacierinv Landsat reader does not clip
either): they are out of the USGS valid range but occur over bright snow and in deep shadow.

Channel mapping (the glacierinv sensor registry, :mod:`glacierinv.preprocess.sensors`): Landsat OLI
blue ``SR_B2``, green ``SR_B3``, red ``SR_B4``, nir ``SR_B5``, swir1 ``SR_B6``, swir2 ``SR_B7``, lst
``ST_B10``; Sentinel-2 blue ``B2``, green ``B3``, red ``B4``, nir ``B8``, swir1 ``B11``, swir2 ``B12``
(no thermal band). Slope is not in the tables: the caller sets one class-independent value.

A spectrum is classified on its own (*1×1 response*): the baseline's per-pixel clean-ice rule, and each
model applied to a uniform tile of the spectrum. Neither can map debris-covered ice from one spectrum:
the baseline's debris rule needs clean ice nearby, and a model's debris class comes from spatial context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glacierinv.classes import N_CLASSES
from glacierinv.errors import InputError
from glacierinv.preprocess.sensors.landsat import L2_SR, L2_ST
from glacierinv.segment.baseline import BaselineParams, classify_arrays
from glacierinv.segment.checkpoint import ModelMeta
from glacierinv.segment.infer import normalise_channels

__all__ = [
    "EXCLUDED_IMAGES",
    "FORMATS",
    "REAL_CLASSES",
    "SpectraFormat",
    "Spectra",
    "baseline_response",
    "class_shares",
    "convert_landsat",
    "convert_sentinel2",
    "model_response",
    "read_spectra",
    "response_table",
    "stack_values",
]

#: The upstream ``class`` codes (README of RaineyAbe/glacier-snow-cover-mapping).
REAL_CLASSES = {1: "snow", 2: "shadowed snow", 3: "ice", 4: "rock/debris", 5: "water"}

# Landsat ST_B10 ranges that tell a row's units apart (see the module docstring)
_ST_SCALED_MAX = 65535 * L2_SR[0]  # 1.80: the largest DN × 2.75e-5
_ST_KELVIN = (L2_ST[1], L2_ST[0] * 65535 + L2_ST[1])  # 149.0-373.0 K: what a DN can encode
_ST_DN_MIN = 1000.0
_S2_QUANTIFICATION = 10000.0
_S2_DN_ROW_MAX = 2.5  # no surface reflects 2.5 times the incoming light; a DN row exceeds it


@dataclass(frozen=True)
class SpectraFormat:
    """One sensor's published table: channel → CSV column, and the upstream ``image_product``."""

    sensor: str
    columns: dict[str, str]
    product: str


FORMATS = {
    "landsat": SpectraFormat(
        "landsat",
        {
            "blue": "SR_B2",
            "green": "SR_B3",
            "red": "SR_B4",
            "nir": "SR_B5",
            "swir1": "SR_B6",
            "swir2": "SR_B7",
            "lst": "ST_B10",
        },
        "Landsat",
    ),
    "sentinel2": SpectraFormat(
        "sentinel2",
        {"blue": "B2", "green": "B3", "red": "B4", "nir": "B8", "swir1": "B11", "swir2": "B12"},
        "Sentinel-2_SR",
    ),
}
_META_COLUMNS = ("site_name", "image_date", "class")

#: Images of the published tables that are left out: (sensor, site, date) → why.
EXCLUDED_IMAGES = {
    ("sentinel2", "Wolverine", "20210615"): (
        "its 955 snow points are Gulkana's (same coordinates and spectra as Gulkana 20210615) and its 680 "
        "other points all carry one identical spectrum (the image did not cover them)"
    ),
}


@dataclass
class Spectra:
    """Labelled spectra in physical units (one entry per row of the table that was kept).

    ``values``: channel → float64 array (reflectance 0-1; ``lst`` in K, Landsat only); ``real_class``:
    upstream class codes (:data:`REAL_CLASSES`); ``units``: conversion rule → number of rows it was
    applied to; ``dropped``: reason → number of rows left out.
    """

    sensor: str
    source: Path
    values: dict[str, np.ndarray]
    real_class: np.ndarray
    site: np.ndarray
    date: np.ndarray
    units: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.real_class)

    def take(self, rows: np.ndarray) -> Spectra:
        """The spectra at ``rows`` (indices or a boolean mask), same source, units and dropped counts."""
        return Spectra(
            self.sensor,
            self.source,
            {c: v[rows] for c, v in self.values.items()},
            self.real_class[rows],
            self.site[rows],
            self.date[rows],
            dict(self.units),
            dict(self.dropped),
        )


def convert_landsat(
    sr: np.ndarray, st: np.ndarray, path: str | Path = "spectra"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert published Landsat values to surface reflectance and surface temperature, row by row.

    Parameters
    ----------
    sr : ndarray, shape (rows, bands)
        ``SR_B*`` values as published.
    st : ndarray, shape (rows,)
        ``ST_B10`` values as published; they decide each row's units.
    path : path
        The table (for error messages).

    Returns
    -------
    reflectance : ndarray (rows, bands), 0-1
    lst_k : ndarray (rows,), kelvin
    rule : ndarray of str (rows,)
        ``"DN×2.75e-5"`` (upstream scaled form: DN = value / 2.75e-5), ``"DN"`` (raw Collection 2 DN) or
        ``"physical"`` (already reflectance and kelvin).

    Raises
    ------
    InputError
        A row's ``ST_B10`` fits none of the three forms.
    """
    sr = np.asarray(sr, "float64")
    st = np.asarray(st, "float64")
    scaled = (st > 0) & (st <= _ST_SCALED_MAX)
    kelvin = (st >= _ST_KELVIN[0]) & (st <= _ST_KELVIN[1])
    raw = st >= _ST_DN_MIN
    bad = ~(scaled | kelvin | raw)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{int(bad.sum())} row(s) have an ST_B10 value in no known unit (first: row {i + 1}, {st[i]!r}); "
            f"expected DN×2.75e-5 (0-{_ST_SCALED_MAX:.2f}), kelvin ({_ST_KELVIN[0]:.0f}-{_ST_KELVIN[1]:.1f}) "
            f"or a raw DN (>= {_ST_DN_MIN:.0f})",
            path,
            "Give the table as published in RaineyAbe/glacier-snow-cover-mapping",
        )
    dn_sr = np.where(scaled[:, None], sr / L2_SR[0], sr)
    dn_st = np.where(scaled, st / L2_SR[0], st)  # upstream scaled ST_B10 by the SR factor too
    from_dn = scaled | raw
    reflectance = np.where(from_dn[:, None], L2_SR[0] * dn_sr + L2_SR[1], sr)
    lst_k = np.where(from_dn, L2_ST[0] * dn_st + L2_ST[1], st)
    rule = np.where(scaled, "DN×2.75e-5", np.where(raw, "DN", "physical"))
    return reflectance, lst_k, rule


def convert_sentinel2(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Published Sentinel-2 values → reflectance 0-1, row by row.

    A row whose largest band value exceeds 2.5 is a raw DN row (``DN / 10000``); any other row is
    reflectance already (the upstream ``DN / 10000``). Returns (reflectance, rule) with rule
    ``"DN/10000"`` (was DN, converted here) or ``"reflectance"``.
    """
    values = np.asarray(values, "float64")
    raw = np.nanmax(values, axis=1) > _S2_DN_ROW_MAX
    reflectance = np.where(raw[:, None], values / _S2_QUANTIFICATION, values)
    return reflectance, np.where(raw, "DN/10000", "reflectance")


def _sensor_of(columns: list[str], path: Path) -> SpectraFormat:
    cols = set(columns)
    if {"SR_B2", "ST_B10"} & cols:
        return FORMATS["landsat"]
    if {"B2", "B11"} & cols:
        return FORMATS["sentinel2"]
    raise InputError(
        "neither Landsat columns (SR_B2..SR_B7, ST_B10) nor Sentinel-2 columns (B2..B12) found; "
        f"the columns are: {', '.join(columns)}",
        path,
        "Give a *_training_data.csv of RaineyAbe/glacier-snow-cover-mapping (Landsat or Sentinel-2_SR)",
    )


def read_spectra(path: str | Path) -> Spectra:
    """Read a labelled-spectra table (upstream CSV format) into physical units.

    Parameters
    ----------
    path : path
        ``Landsat_training_data.csv`` or ``Sentinel-2_SR_training_data.csv`` of
        RaineyAbe/glacier-snow-cover-mapping, or a subset with the same columns; the sensor is told by
        the columns.

    Returns
    -------
    Spectra
        Rows with a missing value in a mapped channel and rows of :data:`EXCLUDED_IMAGES` are dropped
        (counted in ``dropped``); ``units`` counts the rows of each conversion rule.

    Raises
    ------
    InputError
        Missing file, missing columns (named), unknown class codes or values in no known unit.
    """
    path = Path(path)
    table = _read_csv(path)
    fmt = _sensor_of(list(table.columns), path)
    table = _checked_table(table, fmt, path)
    keep, dropped = _rows_to_keep(table, fmt)
    table = table[keep]
    values, rule = _physical_values(table, fmt, path)
    names, counts = np.unique(rule, return_counts=True)
    return Spectra(
        sensor=fmt.sensor,
        source=path,
        values=values,
        real_class=table["class"].to_numpy().astype(int),
        site=table["site_name"].to_numpy().astype(str),
        date=table["image_date"].to_numpy().astype(str),
        units={str(n): int(k) for n, k in zip(names, counts, strict=True)},
        dropped=dropped,
    )


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV table at ``path`` (image_date and site_name as text); InputError when missing or unreadable."""
    if not path.is_file():
        raise InputError("spectra table not found", path)
    try:
        return pd.read_csv(path, dtype={"image_date": str, "site_name": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a readable CSV table ({first})", path) from None


def _checked_table(table: pd.DataFrame, fmt: SpectraFormat, path: Path) -> pd.DataFrame:
    """The table with integer class codes and numeric band columns (NaN where not a number). InputError when
    a column of ``fmt`` is missing (named) or a class code is not one of :data:`REAL_CLASSES`."""
    missing = [c for c in (*_META_COLUMNS, *fmt.columns.values()) if c not in table.columns]
    if missing:
        raise InputError(
            f"{fmt.sensor} spectra table lacks column(s) {', '.join(missing)}; "
            f"the columns are: {', '.join(map(str, table.columns))}",
            path,
            "Give the table with all its band columns as published in RaineyAbe/glacier-snow-cover-mapping",
        )
    codes = pd.to_numeric(table["class"], errors="coerce")
    bad = codes.isna() | ~codes.isin(list(REAL_CLASSES))
    if bad.any():
        raise InputError(
            f"class codes must be {', '.join(f'{k} {v}' for k, v in REAL_CLASSES.items())}; "
            f"{int(bad.sum())} row(s) hold others (first: {table['class'][bad].iloc[0]!r})",
            path,
        )
    table = table.assign(**{"class": codes.astype(int)})
    band_cols = list(fmt.columns.values())
    table[band_cols] = table[band_cols].apply(pd.to_numeric, errors="coerce")
    return table


def _rows_to_keep(table: pd.DataFrame, fmt: SpectraFormat) -> tuple[np.ndarray, dict[str, int]]:
    """Rows to keep (bool) and the dropped row counts by reason: rows of the sensor's
    :data:`EXCLUDED_IMAGES`, then rows with an empty or non-numeric mapped band."""
    band_cols = list(fmt.columns.values())
    dropped: dict[str, int] = {}
    keep = np.ones(len(table), bool)
    for (sensor, site, date), why in EXCLUDED_IMAGES.items():
        if sensor == fmt.sensor:
            hit = ((table["site_name"] == site) & (table["image_date"] == date)).to_numpy()
            if hit.any():
                dropped[f"excluded image {site} {date}: {why}"] = int(hit.sum())
                keep &= ~hit
    incomplete = keep & table[band_cols].isna().any(axis=1).to_numpy()
    if incomplete.any():
        dropped["a mapped band is empty or not a number"] = int(incomplete.sum())
        keep &= ~incomplete
    return keep, dropped


def _physical_values(
    table: pd.DataFrame, fmt: SpectraFormat, path: Path
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Channel name → values in physical units (surface reflectance 0-1; Landsat ``lst`` in K) and the
    conversion rule of each row (:func:`convert_landsat` / :func:`convert_sentinel2`)."""
    if fmt.sensor == "landsat":
        refl_ch = [c for c in fmt.columns if c != "lst"]
        refl, lst_k, rule = convert_landsat(
            table[[fmt.columns[c] for c in refl_ch]].to_numpy(), table[fmt.columns["lst"]].to_numpy(), path
        )
        values = {c: refl[:, i] for i, c in enumerate(refl_ch)}
        values["lst"] = lst_k
    else:
        refl_ch = list(fmt.columns)
        refl, rule = convert_sentinel2(table[[fmt.columns[c] for c in refl_ch]].to_numpy())
        values = {c: refl[:, i] for i, c in enumerate(refl_ch)}
    return values, rule


def stack_values(
    spectra: Spectra, channels: list[str], *, slope_deg: float, lst_k: float | None = None
) -> np.ndarray:
    """The spectra as glacierinv stack channels, shape (len(channels), rows), float32.

    Parameters
    ----------
    spectra : Spectra
    channels : list of str
        Stack channel names in the wanted order (e.g. a checkpoint's ``channels``).
    slope_deg : float
        The slope given to every spectrum (the tables have none), degrees.
    lst_k : float, optional
        The land-surface temperature given to every spectrum when the sensor has no thermal band
        (Sentinel-2), kelvin. Ignored when the spectra carry ``lst``.

    Raises
    ------
    InputError
        A channel the spectra do not provide (``lst`` without ``lst_k``, or an unknown name).
    """
    rows = []
    for ch in channels:
        name = ch.lower()
        if name in spectra.values:
            rows.append(spectra.values[name])
        elif name == "slope":
            rows.append(np.full(len(spectra), slope_deg))
        elif name == "lst" and lst_k is not None:
            rows.append(np.full(len(spectra), lst_k))
        else:
            raise InputError(
                f"channel '{ch}' is not in the {spectra.sensor} spectra (they give: "
                f"{', '.join([*spectra.values, 'slope'])})"
                + ("; pass lst_k for a sensor without a thermal band" if name == "lst" else ""),
                spectra.source,
            )
    return np.stack(rows).astype("float32")


def baseline_response(
    spectra: Spectra, rule: str = "red/swir1", params: BaselineParams = BaselineParams()
) -> np.ndarray:
    """The baseline's class of each spectrum on its own (0 background, 1 clean ice; never 2).

    Calls :func:`glacierinv.segment.baseline.classify_arrays` on the spectra laid out as one image row
    without ``lst`` and ``slope``. Its clean-ice rule is per pixel, so each spectrum gets the class a
    uniform tile of it would get; its debris rule needs clean ice within ``connect_m`` of the pixel,
    which a uniform non-ice tile never has, so leaving ``lst``/``slope`` out changes no class (tested).

    Parameters
    ----------
    rule : {"red/swir1", "red/nir"}
        ``"red/swir1"`` gives the classifier the SWIR band (Paul et al. 2002 ratio, as on a Landsat or
        Sentinel-2 stack); ``"red/nir"`` withholds it (the VNIR rule of a blue-green-red-NIR stack).
    """
    if rule not in ("red/swir1", "red/nir"):
        raise InputError(f"rule must be 'red/swir1' or 'red/nir', not '{rule}'")
    channels = ["blue", "green", "red", "nir"] + (["swir1"] if rule == "red/swir1" else [])
    bands = {c: spectra.values[c][None, :] for c in channels}
    classes, _ = classify_arrays(bands, pixel_m=30.0, params=params)
    return classes[0]


@torch.no_grad()
def model_response(
    spectra: Spectra,
    model: torch.nn.Module,
    meta: ModelMeta,
    *,
    slope_deg: float,
    lst_k: float | None = None,
    tile_px: int = 64,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Each model's class of each spectrum: the model applied to a uniform tile of that spectrum.

    The spectrum's channels (``meta.channels``; :func:`stack_values`) are normalised with the
    checkpoint's ``norm_mean``/``norm_std`` (:func:`glacierinv.segment.infer.normalise_channels`),
    broadcast to a ``tile_px``² tile and run in batches; the class is the argmax of the
    temperature-scaled softmax at the tile's centre pixel (the farthest from the zero padding).

    Parameters
    ----------
    slope_deg : float
        Slope of every tile, degrees.
    lst_k : float, optional
        LST of every tile when the spectra have no thermal band; None then uses the checkpoint's training
        mean of ``lst`` (normalised value 0: the model is told nothing by it).
    tile_px, batch_size : int
        Tile side (pixels) and tiles per forward pass. 64 px gave the same class as the models' 128 px
        training tile for every spectrum of the shipped subset (32 px: 99 %), at a quarter of the cost.

    Returns
    -------
    classes : ndarray of uint8 (rows,)
    proba : ndarray of float32 (rows, classes)
    lst_source : str
        Where ``lst`` came from (``"ST_B10"``, ``"given"``, ``"training mean"``, or ``"-"``).
    """
    if tile_px < 1 or batch_size < 1:
        raise InputError(f"tile_px and batch_size must be >= 1, not {tile_px} and {batch_size}")
    names = [c.lower() for c in meta.channels]
    lst_source = "-"
    if "lst" in names:
        if "lst" in spectra.values:
            lst_source = "ST_B10"
        elif lst_k is not None:
            lst_source = "given"
        else:
            lst_k, lst_source = meta.norm_mean[names.index("lst")], "training mean"
    x = stack_values(spectra, names, slope_deg=slope_deg, lst_k=lst_k)
    mean = np.asarray(meta.norm_mean, "float32")[:, None, None]
    inv_std = (1.0 / np.asarray(meta.norm_std, "float32"))[:, None, None]
    normalise_channels(x[:, :, None], mean, inv_std)  # (C, rows, 1) viewed as a (C, H, W) block
    vec = torch.from_numpy(np.ascontiguousarray(x.T))[:, :, None, None]  # (rows, C, 1, 1)
    device = next(model.parameters()).device
    temperature = float(getattr(meta, "temperature", 1.0))
    proba = np.empty((len(spectra), len(meta.class_names)), "float32")
    c = tile_px // 2
    for i in range(0, len(spectra), batch_size):
        tiles = vec[i : i + batch_size].expand(-1, -1, tile_px, tile_px).contiguous().to(device)
        logits = model(tiles)[:, :, c, c]
        proba[i : i + batch_size] = torch.softmax(logits / temperature, dim=1).cpu().numpy()
    return np.argmax(proba, axis=1).astype("uint8"), proba, lst_source


def class_shares(real_class: np.ndarray, predicted: np.ndarray) -> dict[str, tuple[int, np.ndarray]]:
    """Per real class: (number of spectra, share classified as background / clean ice / debris).

    Classes with no spectra are left out; shares are fractions 0-1 summing to 1 (predicted classes
    outside 0..2, e.g. nodata, are not expected here and raise).
    """
    predicted = np.asarray(predicted)
    if predicted.size and predicted.max() >= N_CLASSES:
        raise InputError(f"predicted classes must be 0..{N_CLASSES - 1}, found {int(predicted.max())}")
    out = {}
    for code, name in REAL_CLASSES.items():
        sel = real_class == code
        n = int(sel.sum())
        if n:
            out[name] = (n, np.bincount(predicted[sel], minlength=N_CLASSES)[:N_CLASSES] / n)
    return out


def response_table(spectra: Spectra, responses: dict[str, np.ndarray]) -> str:
    """A markdown table: one row per real class, one column per method (share background / ice / debris).

    Parameters
    ----------
    spectra : Spectra
    responses : dict of str to ndarray
        Method name → predicted class of each spectrum (0 background, 1 clean ice, 2 debris).

    Returns
    -------
    str
        Cells ``bg / ice / debris`` in percent of the class's spectra (rounded, so a row may not sum to
        exactly 100).
    """
    shares = {m: class_shares(spectra.real_class, pred) for m, pred in responses.items()}
    lines = [
        "| real class (n) | " + " | ".join(responses) + " |",
        "|---|" + "---:|" * len(responses),
    ]
    for name in REAL_CLASSES.values():
        if all(name not in s for s in shares.values()):
            continue
        n = next(s[name][0] for s in shares.values() if name in s)
        cells = [" / ".join(f"{100 * v:.0f}" for v in s[name][1]) for s in shares.values()]
        lines.append(f"| {name} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
