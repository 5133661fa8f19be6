"""Demo sources: a deterministic, realistic dairy/cheese star schema in prd_sales.silver.

It stands in for the ERP extract the pipeline reads on Databricks, so the demo and the tests run
anywhere. Weekly demand per (sales_org, material) carries a trend, yearly seasonality, a
Christmas peak, promotions, launches, delistings, stock-out weeks and noise; order lines are
drawn from that demand, so prep and training meet the shapes real sales data has.

Like a real ERP extract it carries a few bad order lines (about 0.02 %), so the demo shows prep's
rejects: lines with no customer, with a customer, material or sales org the dimensions lack,
returns (negative quantity) and exact duplicates. They are extra rows: the good ones, hence prep's
gold table, are the same as if they were not there.

Size: scale 1 gives about 625 k order lines from 3 000 customers over ~330 series; order lines and
customers grow linearly with `scale` (scale 16 ≈ 10 M lines), so volumes grow with it too. The
material catalogue and the sales orgs never change; the same (scale, seed) gives identical tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from pipeline.contract import SILVER, SOURCE_TABLES, ZCD4_GROUP
from pipeline.warehouse import replace_tables
from salesgenie.errors import SalesgenieError

if TYPE_CHECKING:
    from rich.progress import Progress

START = np.datetime64("2023-01-02", "D")  # a Monday
N_WEEKS = 139  # Mondays 2023-01-02 .. 2025-08-25; the last order date is 2025-08-31
LINES_PER_SCALE = 625_000
CUSTOMERS_PER_SCALE = 3_000
MAX_SCALE = 50  # ~31 M order lines and ~5 GB of memory at the peak
MIN_CUSTOMERS = 60  # every org keeps a handful of customers, ZCD4 ones included, at tiny scales
ZCD4_SHARE = 0.05
FLAGSHIP = "ETORKI PORT 250G FAMILIAL X8 FR"
# About 1.1 k units a week once prep drops ZCD4, the level the seed demo shows for Etorki.
FLAGSHIP_WEEKLY_UNITS = 1_300.0
FLAGSHIP_CARTONS = 3.0  # mean cartons per order line of the flagship series
FIRST_MATERIAL_ID = 100_001
FIRST_CUSTOMER_ID = 2_000_001
FIRST_ORDER_ID = 4_500_000_001
RECENT_LAUNCH_WEEKS = (128, 135)  # 2025-06-16 .. 2025-07-28: fewer than 12 weeks of history
# Bad order lines of each kind per good one (at least MIN_BAD_ROWS): 25 of each at scale 1.
BAD_ROW_RATE = 4e-5
MIN_BAD_ROWS = 3
UNKNOWN_SALES_ORG = "PT01"  # an org the ERP already books but dim_sales_org does not list yet
STEPS = ("catalogue", "customers", "weekly demand", "order lines", "orders", "writing")

# code, name, country, currency, relative volume, share of the customers, price level
SALES_ORGS = (
    ("FR01", "France", "FR", "EUR", 1.0, 0.40, 1.00),
    ("ES01", "Spain", "ES", "EUR", 0.45, 0.16, 0.96),
    ("IT01", "Italy", "IT", "EUR", 0.45, 0.16, 1.03),
    ("BE01", "Belgium", "BE", "EUR", 0.35, 0.12, 1.05),
    ("DE01", "Germany", "DE", "EUR", 0.40, 0.16, 0.98),
)
# Probability that each org (SALES_ORGS order) lists a material, by the pack's country label.
LISTING = {
    "FR": (0.90, 0.35, 0.30, 0.60, 0.35),
    "IT": (0.25, 0.10, 1.00, 0.10, 0.10),
    "ES": (0.05, 1.00, 0.05, 0.05, 0.05),
    "DE": (0.05, 0.05, 0.05, 0.20, 1.00),
}
# peak day of year, seasonal amplitude range, Christmas uplift range, euro per kg (or litre),
# relative line count
CATEGORIES = {
    "cheese": (20, (0.08, 0.25), (0.4, 1.0), 13.0, 1.0),
    "butter": (345, (0.05, 0.15), (0.3, 0.7), 10.0, 1.2),
    "cream": (350, (0.05, 0.20), (0.5, 1.1), 5.0, 1.0),
    "milk": (30, (0.02, 0.08), (0.0, 0.1), 1.1, 1.5),
    "yogurt": (170, (0.08, 0.20), (0.0, 0.1), 3.2, 1.3),
    "dessert": (40, (0.05, 0.15), (0.1, 0.3), 4.5, 0.9),
}
# fmt: off
# brand, category, price factor, items "PRODUCT WEIGHT PACK COUNTRY"
CATALOGUE: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("ETORKI", "cheese", 1.45, (
        "PORT 250G FAMILIAL X8 FR", "PORT 150G X10 FR", "PORT 500G X6 FR", "PORT 1KG X4 FR",
        "TRANCHES 120G X12 FR", "TRANCHES 200G X10 FR", "RAPE 100G X12 FR", "RAPE 180G X10 FR",
        "MEULE 4.5KG X1 FR", "CUBES APERITIF 150G X10 FR", "PORT 250G X8 ES", "PORT 250G X8 DE",
    )),
    ("PRESIDENT", "cheese", 1.0, (
        "CAMEMBERT 250G X6 FR", "CAMEMBERT 145G X12 FR", "BRIE 200G X8 FR", "BRIE 1KG X2 FR",
        "BRIE 500G X4 FR", "COULOMMIERS 350G X6 FR", "EMMENTAL RAPE 200G X12 FR",
        "EMMENTAL RAPE 500G X8 FR", "COMTE 200G X8 FR", "RACLETTE TRANCHES 400G X8 FR",
        "CAMEMBERT 250G X6 ES", "BRIE 200G X8 ES", "CAMEMBERT 250G X6 DE", "BRIE 200G X8 DE",
        "EMMENTAL 250G X10 DE", "SAINT PAULIN 300G X6 FR", "CHEVRE 180G X8 FR",
        "MOZZARELLA 125G X10 FR", "BRIE 200G X8 IT",
    )),
    ("PRESIDENT", "butter", 1.0, (
        "BEURRE DOUX 250G X20 FR", "BEURRE DOUX 500G X12 FR", "BEURRE DEMI SEL 250G X20 FR",
        "BEURRE DEMI SEL 500G X12 FR", "BEURRE DOUX 250G X20 ES", "BEURRE DOUX 250G X20 DE",
        "BEURRE TENDRE 250G X20 FR", "BEURRE MOULE 250G X20 FR", "BEURRE DOUX 250G X20 IT",
    )),
    ("PRESIDENT", "cream", 1.0, (
        "CREME FRAICHE EPAISSE 20CL X12 FR", "CREME FRAICHE EPAISSE 50CL X6 FR",
        "CREME LIQUIDE 20CL X12 FR", "CREME LIQUIDE 1L X6 FR", "NATA 200ML X12 ES",
    )),
    ("SOIGNON", "cheese", 1.2, (
        "BUCHE CHEVRE 180G X8 FR", "BUCHE CHEVRE 1KG X2 FR", "CHEVRE FRAIS 150G X6 FR",
        "CROTTIN 60G X12 FR", "BUCHETTE 120G X8 FR", "PALET CHEVRE 200G X6 FR",
        "BUCHE CHEVRE 180G X8 DE",
    )),
    ("SOIGNON", "yogurt", 1.2, ("YAOURT CHEVRE 4X125G X6 FR",)),
    ("SOIGNON", "milk", 1.2, ("LAIT CHEVRE 1L X6 FR",)),
    ("CAPRICE DES DIEUX", "cheese", 1.1, (
        "ORIGINAL 200G X6 FR", "ORIGINAL 300G X6 FR", "MINI 85G X12 FR", "LEGER 200G X6 FR",
        "ORIGINAL 200G X6 DE",
    )),
    ("ST MORET", "cheese", 1.05, (
        "NATURE 150G X12 FR", "NATURE 250G X8 FR", "AIL FINES HERBES 150G X12 FR",
        "LEGER 150G X12 FR", "TARTINE 200G X8 FR", "NATURE 150G X12 ES",
    )),
    ("ST MORET", "cream", 1.05, ("CUISINE 20CL X12 FR",)),
    ("BRIDELIGHT", "butter", 0.95, ("BEURRE ALLEGE 250G X20 FR", "BEURRE ALLEGE 500G X12 FR")),
    ("BRIDELIGHT", "cheese", 0.95, (
        "EMMENTAL RAPE 200G X12 FR", "TRANCHES 200G X10 FR", "FROMAGE A TARTINER 150G X12 FR",
    )),
    ("BRIDELIGHT", "cream", 0.95, ("CREME LEGERE 20CL X12 FR", "CREME LEGERE 50CL X6 FR")),
    ("GALBANI", "cheese", 1.1, (
        "MOZZARELLA 125G X10 IT", "MOZZARELLA 250G X8 IT", "MOZZARELLA 1KG X4 IT",
        "MOZZARELLA BUFALA 125G X8 IT", "RICOTTA 250G X8 IT", "MASCARPONE 250G X8 IT",
        "MASCARPONE 500G X6 IT", "GORGONZOLA 200G X6 IT", "PARMIGIANO RAPE 100G X12 IT",
        "SANTA LUCIA 400G X6 IT", "MOZZARELLA 125G X10 FR", "RICOTTA 250G X8 FR",
        "MASCARPONE 250G X8 FR", "MOZZARELLA 125G X10 DE", "BURRATA 125G X6 IT",
        "STRACCHINO 100G X10 IT", "PROVOLONE 250G X8 IT",
    )),
    ("LACTEL", "milk", 1.0, (
        "LAIT DEMI ECREME 1L X6 FR", "LAIT DEMI ECREME 50CL X12 FR", "LAIT ENTIER 1L X6 FR",
        "LAIT ECREME 1L X6 FR", "LAIT BIO 1L X6 FR", "MATIN LEGER 1L X6 FR",
        "LAIT CHOCOLAT 20CL X24 FR", "LAIT CROISSANCE 1L X6 FR", "LECHE ENTERA 1L X6 ES",
        "LECHE SEMI 1L X6 ES", "LAIT RIBOT 1L X6 FR", "LAIT SANS LACTOSE 1L X6 FR",
        "H MILCH 1L X6 DE",
    )),
    ("LA LAITIERE", "yogurt", 1.15, (
        "YAOURT NATURE 4X125G X6 FR", "YAOURT VANILLE 4X125G X6 FR",
        "YAOURT FRUITS 4X125G X6 FR", "FROMAGE BLANC 500G X6 FR", "YAOURT NATURE 4X125G X6 ES",
        "YAOURT CITRON 4X125G X6 FR",
    )),
    ("LA LAITIERE", "dessert", 1.15, (
        "CREME DESSERT CHOCOLAT 4X100G X6 FR", "RIZ AU LAIT 4X115G X6 FR",
        "SEMOULE 4X115G X6 FR", "MOUSSE CHOCOLAT 4X59G X8 FR", "CREME BRULEE 2X100G X6 FR",
        "FLAN CARAMEL 4X100G X6 FR", "LIEGEOIS CHOCOLAT 4X100G X6 FR",
    )),
    ("SOCIETE", "cheese", 1.6, (
        "ROQUEFORT 100G X10 FR", "ROQUEFORT 150G X8 FR", "ROQUEFORT 1.3KG X2 FR",
        "BREBIS FRAIS 150G X8 FR", "ROQUEFORT 100G X10 DE",
    )),
    ("SOCIETE", "cream", 1.6, ("CREME ROQUEFORT 20CL X12 FR",)),
    ("BRIDEL", "butter", 0.9, (
        "BEURRE DOUX 250G X20 FR", "BEURRE DOUX 500G X12 FR", "BEURRE DEMI SEL 250G X20 FR",
    )),
    ("BRIDEL", "cream", 0.9, (
        "CREME EPAISSE 20CL X12 FR", "CREME EPAISSE 50CL X6 FR", "CREME LIQUIDE 20CL X12 FR",
    )),
    ("BRIDEL", "cheese", 0.9, ("EMMENTAL RAPE 200G X12 FR", "EMMENTAL RAPE 1KG X6 FR")),
    ("SALAKIS", "cheese", 1.15, (
        "FETA 200G X8 FR", "FETA 400G X6 FR", "CUBES 200G X8 FR", "BREBIS NATURE 180G X8 FR",
        "APERITIF 150G X10 FR", "FETA 200G X8 DE",
    )),
    ("LEPETIT", "cheese", 1.05, (
        "CAMEMBERT 250G X6 FR", "BRIE 200G X8 FR", "COULOMMIERS 350G X6 FR",
        "CAMEMBERT LAIT CRU 250G X6 FR",
    )),
    ("GRAND FERMAGE", "butter", 1.0, (
        "BEURRE DOUX 250G X20 FR", "BEURRE DOUX 500G X12 FR", "BEURRE DEMI SEL 250G X20 FR",
        "BEURRE SEL DE MER 250G X20 FR", "BEURRE TENDRE 250G X20 FR",
    )),
    ("CHAVROUX", "cheese", 1.2, (
        "BUCHE 150G X8 FR", "FRAIS NATURE 150G X6 FR", "TARTINE 140G X6 FR",
        "TRANCHES 120G X8 FR", "BUCHE 150G X8 DE",
    )),
)
# Customer chains by country: national chains (Z001 hypermarkets .. Z004 cash & carry) plus the
# channels every country has (Z005 .. Z010). ZCD4 customers are the group's own affiliates.
CHAINS = {
    "FR": (("CARREFOUR", "Z001"), ("E.LECLERC", "Z001"), ("AUCHAN", "Z001"),
           ("INTERMARCHE", "Z002"), ("SYSTEME U", "Z002"), ("MONOPRIX", "Z002"),
           ("LIDL", "Z003"), ("ALDI", "Z003"), ("METRO", "Z004"), ("PROMOCASH", "Z004")),
    "ES": (("CARREFOUR", "Z001"), ("ALCAMPO", "Z001"), ("MERCADONA", "Z002"),
           ("EROSKI", "Z002"), ("DIA", "Z003"), ("MAKRO", "Z004")),
    "IT": (("ESSELUNGA", "Z001"), ("COOP ITALIA", "Z002"), ("CONAD", "Z002"),
           ("EUROSPIN", "Z003"), ("METRO", "Z004")),
    "BE": (("CARREFOUR", "Z001"), ("DELHAIZE", "Z002"), ("COLRUYT", "Z003"),
           ("ALDI", "Z003"), ("MAKRO", "Z004")),
    "DE": (("KAUFLAND", "Z001"), ("EDEKA", "Z002"), ("REWE", "Z002"), ("LIDL", "Z003"),
           ("ALDI", "Z003"), ("METRO", "Z004")),
}
CHANNELS = (("HORECA SERVICES", "Z005"), ("PROXI", "Z006"), ("ONLINE GROCER", "Z007"),
            ("FROMAGERIE", "Z008"), ("WHOLESALE", "Z009"), ("FOOD INDUSTRY", "Z010"))
GROUP_WEIGHT = {"Z001": 3.0, "Z002": 2.0, "Z003": 1.5, "Z004": 1.5, "Z005": 0.8, "Z006": 0.5,
                "Z007": 0.6, "Z008": 0.3, "Z009": 1.0, "Z010": 0.7, ZCD4_GROUP: 2.0}
CITIES = {
    "FR": ("PARIS", "LYON", "MARSEILLE", "LILLE", "TOULOUSE", "NANTES", "BORDEAUX", "RENNES"),
    "ES": ("MADRID", "BARCELONA", "VALENCIA", "SEVILLA", "BILBAO"),
    "IT": ("MILANO", "ROMA", "TORINO", "NAPOLI", "BOLOGNA"),
    "BE": ("BRUXELLES", "ANTWERPEN", "GENT", "LIEGE"),
    "DE": ("BERLIN", "HAMBURG", "MUENCHEN", "KOELN", "FRANKFURT"),
}
# fmt: on
WEIGHT_RE = re.compile(r"^(?:(\d+)X)?(\d+(?:\.\d+)?)(G|KG|ML|CL|L)$")
WEIGHT_UNIT_KG = {"G": 0.001, "KG": 1.0, "ML": 0.001, "CL": 0.01, "L": 1.0}


def generate(
    con: duckdb.DuckDBPyConnection,
    scale: float = 1.0,
    seed: int = 42,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the four demo source tables in one swap; returns the row count of each."""
    task = progress.add_task("generate", total=len(STEPS)) if progress else None

    def step(name: str) -> None:
        if progress is not None and task is not None:
            progress.update(task, completed=STEPS.index(name), description=f"generate: {name}")

    frames = build_sources(scale, seed, on_step=step)
    step("writing")
    replace_tables(con, SILVER, frames, SOURCE_TABLES)
    if progress is not None and task is not None:
        progress.update(task, completed=len(STEPS), description="generate: done")
    return {table: len(frame) for table, frame in frames.items()}


def build_sources(
    scale: float = 1.0, seed: int = 42, on_step: Callable[[str], None] | None = None
) -> dict[str, pd.DataFrame]:
    """The four source frames, keyed by table name; `on_step` hears each step as it starts.

    The fact frame keeps order, customer and material ids as integers (10 M Python strings would
    cost gigabytes); writing it through the contract casts them to VARCHAR.
    """
    if not (isinstance(scale, int | float) and 0 < scale <= MAX_SCALE):
        raise SalesgenieError(f"scale must be a number in (0, {MAX_SCALE}], got {scale!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise SalesgenieError(f"seed must be a non-negative integer, got {seed!r}")
    notify = on_step or (lambda _name: None)
    # Independent streams: the demand shapes of a seed do not move when the scale changes.
    rng_customers, rng_series, rng_lines, rng_bad = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    notify(STEPS[0])
    materials = _materials()
    orgs = pd.DataFrame(
        [org[:4] for org in SALES_ORGS],
        columns=["sales_org", "sales_org_name", "country", "currency"],
    )
    notify(STEPS[1])
    n_customers = max(MIN_CUSTOMERS, round(CUSTOMERS_PER_SCALE * scale))
    customers = _customers(rng_customers, n_customers)
    notify(STEPS[2])
    series = _series(rng_series, materials)
    lam, promo = _weekly_demand(rng_series, series, materials)
    notify(STEPS[3])
    lines = _order_lines(rng_lines, scale, lam, promo, series, materials, customers)
    notify(STEPS[4])
    fact = _with_bad_rows(rng_bad, _number_orders(lines, n_customers), n_customers, len(materials))
    return {
        "dim_customer": customers[list(SOURCE_TABLES["dim_customer"])],
        "dim_material": materials[list(SOURCE_TABLES["dim_material"])],
        "dim_sales_org": orgs,
        "fact_sales_orders": fact,
    }


def _materials() -> pd.DataFrame:
    """The fixed catalogue, with the pack size, weight and unit price each description implies."""
    rows = []
    for brand, category, price_factor, items in CATALOGUE:
        for item in items:
            *words, pack, label = item.split()
            weights = [m for m in map(WEIGHT_RE.match, words) if m]
            if not weights or not pack.startswith("X") or label not in LISTING:
                raise ValueError(f"malformed catalogue item {brand} {item}")
            count, amount, unit = weights[-1].groups()
            kg = int(count or 1) * float(amount) * WEIGHT_UNIT_KG[unit]
            rows.append(
                {
                    "material_description": f"{brand} {item}",
                    "brand": brand,
                    "category": category,
                    "label": label,
                    "pack": int(pack[1:]),
                    "unit_price": round(CATEGORIES[category][3] * kg * price_factor, 2),
                }
            )
    frame = pd.DataFrame(rows)
    frame.insert(0, "material_id", (FIRST_MATERIAL_ID + np.arange(len(frame))).astype(str))
    return frame


def _customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Retail, wholesale and food-service customers per country; ZCD4_SHARE are affiliates."""
    shares = np.array([org[5] for org in SALES_ORGS])
    counts = np.floor(shares * n).astype(int)
    counts[0] += n - counts.sum()
    org_idx = rng.permutation(np.repeat(np.arange(len(SALES_ORGS)), counts))
    country = np.array([org[2] for org in SALES_ORGS])[org_idx]
    chain = np.empty(n, dtype=object)
    group = np.empty(n, dtype=object)
    city = np.empty(n, dtype=object)
    for code in CHAINS:
        rows = np.flatnonzero(country == code)
        options = np.array(CHAINS[code] + CHANNELS, dtype=object)
        picked = options[rng.integers(len(options), size=len(rows))]
        chain[rows], group[rows] = picked[:, 0], picked[:, 1]
        city[rows] = np.array(CITIES[code], dtype=object)[
            rng.integers(len(CITIES[code]), size=len(rows))
        ]
    zcd4 = rng.choice(n, size=round(ZCD4_SHARE * n), replace=False)
    chain[zcd4] = "INTRA-GROUP " + country[zcd4].astype(object)
    group[zcd4] = ZCD4_GROUP
    number = pd.Series(np.arange(1, n + 1)).map("{:05d}".format).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "customer_id": (FIRST_CUSTOMER_ID + np.arange(n)).astype(str),
            "customer_name": chain + " " + city + " " + number,
            "customer_group": group,
            "country": country,
            "org_idx": org_idx,
            "weight": rng.lognormal(0.0, 1.0, n) * pd.Series(group).map(GROUP_WEIGHT).to_numpy(),
            # the weekday the customer usually orders on (Saturday rarely)
            "order_day": rng.choice(6, size=n, p=[0.24, 0.22, 0.2, 0.18, 0.14, 0.02]),
        }
    )


def _series(rng: np.random.Generator, materials: pd.DataFrame) -> pd.DataFrame:
    """Which org sells which material, and the weeks each series starts and stops selling."""
    n_mat, n_org = len(materials), len(SALES_ORGS)
    flagship = int(np.flatnonzero(materials["material_description"] == FLAGSHIP)[0])
    listed = rng.random((n_mat, n_org)) < np.array([LISTING[x] for x in materials["label"]])
    home = np.array(
        [next(i for i, o in enumerate(SALES_ORGS) if o[2] == x) for x in materials["label"]]
    )
    listed[np.arange(n_mat), home] |= ~listed.any(axis=1)

    # Material launches (a few in June-July 2025, so their series are short) and delistings.
    start = np.zeros(n_mat, dtype=int)
    end = np.full(n_mat, N_WEEKS)
    candidates = rng.permutation(
        np.setdiff1d(np.flatnonzero(materials["label"] == "FR"), [flagship])
    )
    recent, older, delisted = candidates[:4], candidates[4:16], candidates[16:24]
    start[recent] = rng.integers(*RECENT_LAUNCH_WEEKS, size=len(recent))
    start[older] = rng.integers(4, 120, size=len(older))
    end[delisted] = rng.integers(30, 125, size=len(delisted))
    listed[recent, 0] = True
    listed[flagship, 0] = True

    mat, org = np.nonzero(listed)
    series = pd.DataFrame({"mat_idx": mat, "org_idx": org})
    n = len(series)
    # Other orgs list a launch a little later; some series start late or stop early on their own.
    delay = np.where(org == 0, 0, rng.integers(0, 7, size=n))
    late = (rng.random(n) < 0.05) & (start[mat] == 0)
    own_start = np.where(late, rng.integers(10, 100, size=n), 0)
    series["start"] = np.minimum(np.maximum(start[mat] + delay, own_start), N_WEEKS - 3)
    own_end = np.where(rng.random(n) < 0.03, rng.integers(30, 131, size=n), N_WEEKS)
    series["end"] = np.minimum(end[mat], own_end)
    is_flagship = (mat == flagship) & (org == 0)
    series.loc[is_flagship, ["start", "end"]] = (0, N_WEEKS)
    series["flagship"] = is_flagship
    series["cartons"] = np.where(is_flagship, FLAGSHIP_CARTONS, rng.uniform(1.5, 5.0, size=n))
    series["discount"] = rng.uniform(0.15, 0.30, size=n)
    return series


def _weekly_demand(
    rng: np.random.Generator, series: pd.DataFrame, materials: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Expected order lines per series and week at scale 1, and the promotion weeks."""
    n = len(series)
    week = np.arange(N_WEEKS)
    mondays = pd.DatetimeIndex(START + 7 * week)
    years = week / 52.18
    cat = materials["category"].to_numpy()[series["mat_idx"]]
    params = [CATEGORIES[c] for c in cat]

    popularity = rng.lognormal(0.0, 0.8, len(materials))[series["mat_idx"]]
    org_size = np.array([o[4] for o in SALES_ORGS])[series["org_idx"]]
    base = popularity * org_size * rng.lognormal(0.0, 0.5, n) * np.array([p[4] for p in params])

    # The flagship (the demo's Etorki series) grows steadily with little noise and no stock-out.
    flagship = series["flagship"].to_numpy()
    growth = np.where(flagship, 0.03, rng.normal(0.02, 0.12, n))
    trend = np.exp(growth[:, None] * years)
    peak = np.array([p[0] for p in params]) + rng.normal(0, 15, n)
    amplitude = rng.uniform(*np.array([p[1] for p in params]).T)
    mid_week = (mondays + pd.Timedelta(days=3)).dayofyear.to_numpy()
    season = 1 + amplitude[:, None] * np.cos(2 * np.pi * (mid_week - peak[:, None]) / 365.25)

    days_to_christmas = np.abs(mid_week - 355)  # a bump centred on the week before Christmas
    christmas = np.exp(-0.5 * (np.minimum(days_to_christmas, 365 - days_to_christmas) / 9) ** 2)
    uplift = rng.uniform(*np.array([p[2] for p in params]).T)
    holidays = np.ones(N_WEEKS)
    holidays[(mondays.month == 12) & (mondays.day >= 24)] = 0.7  # shops shut after Christmas
    summer = (mondays.month == 8) & (mondays.day <= 21)  # France, Spain, Italy on holiday
    summer_dip = np.where(np.isin(series["org_idx"], [0, 1, 2])[:, None] & summer, 0.85, 1.0)

    # Promotions of one or two weeks, each followed by a dip while shelves are still stocked.
    starts = rng.random((n, N_WEEKS)) < rng.uniform(0.0, 0.05, n)[:, None]
    long = rng.random((n, N_WEEKS)) < 0.4
    promo = starts | np.roll(starts & long, 1, axis=1)
    promo[:, 0] = starts[:, 0]
    after = np.roll(promo, 1, axis=1) & ~promo
    after[:, 0] = False
    promo_effect = np.where(promo, rng.uniform(1.5, 3.0, (n, N_WEEKS)), 1.0)
    promo_effect[after] = 0.8

    start, end = series["start"].to_numpy()[:, None], series["end"].to_numpy()[:, None]
    active = (week >= start) & (week < end)
    ramp_up = np.clip(0.35 + 0.65 * (week - start + 1) / 6, 0.0, 1.0)
    ramp_down = np.where((end < N_WEEKS) & (week >= end - 4), 0.6, 1.0)
    stock_out_rate = np.where(flagship, 0.0, rng.uniform(0.0, 0.03, n))
    stock_out = rng.random((n, N_WEEKS)) < stock_out_rate[:, None]
    sigma = np.where(flagship, 0.08, rng.uniform(0.05, 0.25, n))
    noise = rng.lognormal(0.0, sigma[:, None], (n, N_WEEKS))

    shape = (
        trend
        * season
        * (1 + uplift[:, None] * christmas)
        * holidays
        * summer_dip
        * promo_effect
        * ramp_up
        * ramp_down
        * noise
    )
    shape[~active | stock_out] = 0.0
    lam = base[:, None] * shape
    lam *= LINES_PER_SCALE / lam.sum()
    pack = materials["pack"].to_numpy()[series["mat_idx"].to_numpy()[flagship]]
    lam[flagship] = shape[flagship] * FLAGSHIP_WEEKLY_UNITS / (FLAGSHIP_CARTONS * pack[:, None])
    return lam, promo


def _order_lines(
    rng: np.random.Generator,
    scale: float,
    lam: np.ndarray,
    promo: np.ndarray,
    series: pd.DataFrame,
    materials: pd.DataFrame,
    customers: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Draw the order lines of every series-week, their customer, day, quantity and value."""
    counts = rng.poisson(lam * scale).ravel()
    cell = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    s, week = np.divmod(cell, N_WEEKS)
    n = len(cell)
    org = series["org_idx"].to_numpy()[s]
    mat = series["mat_idx"].to_numpy()[s]

    # Quantities are whole cartons of the pack size, in units.
    cartons = 1 + rng.poisson(series["cartons"].to_numpy()[s] - 1)
    quantity = (cartons * materials["pack"].to_numpy()[mat]).astype(np.float64)

    customer = np.empty(n, dtype=np.int64)
    customer_org, weight = customers["org_idx"].to_numpy(), customers["weight"].to_numpy()
    for code in range(len(SALES_ORGS)):
        lines = np.flatnonzero(org == code)
        pool = np.flatnonzero(customer_org == code)
        p = weight[pool] / weight[pool].sum()
        customer[lines] = pool[rng.choice(len(pool), size=len(lines), p=p)]
    usual_day = customers["order_day"].to_numpy()[customer]
    day = week * 7 + np.where(rng.random(n) < 0.9, usual_day, rng.integers(0, 7, size=n))

    # List price x org price level x 4 %/year inflation, minus promotion and affiliate discounts.
    price = (
        materials["unit_price"].to_numpy()[mat]
        * np.array([o[6] for o in SALES_ORGS])[org]
        * 1.04 ** (week / 52.18)
        * np.where(promo.ravel()[cell], 1 - series["discount"].to_numpy()[s], 1.0)
        * np.where(customers["customer_group"].to_numpy()[customer] == ZCD4_GROUP, 0.85, 1)
        * rng.lognormal(0.0, 0.03, n)
    )
    return {
        "day": day,
        "customer": customer,
        "mat": mat,
        "org": org,
        "quantity": quantity,
        "net_value": np.round(quantity * price, 2),
    }


def _number_orders(lines: dict[str, np.ndarray], n_customers: int) -> dict[str, np.ndarray]:
    """Group lines into one order per customer and day, numbered in date order.

    Ids stay integers here (10 M strings would cost gigabytes); the write casts them to VARCHAR.
    sales_org holds the index of the org in SALES_ORGS.
    """
    key = lines["day"] * n_customers + lines["customer"]
    order = np.argsort(key, kind="stable")
    key = key[order]
    new_order = np.empty(len(key), dtype=bool)
    new_order[:1] = True
    np.not_equal(key[1:], key[:-1], out=new_order[1:])
    order_no = np.cumsum(new_order) - 1
    first_line = np.flatnonzero(new_order)
    return {
        "order_id": FIRST_ORDER_ID + order_no,
        "order_line": (np.arange(len(key)) - first_line[order_no] + 1).astype(np.int32),
        "order_date": START + lines["day"][order].astype("timedelta64[D]"),
        "customer_id": FIRST_CUSTOMER_ID + lines["customer"][order],
        "material_id": FIRST_MATERIAL_ID + lines["mat"][order],
        "sales_org": lines["org"][order],
        "quantity": lines["quantity"][order],
        "net_value": lines["net_value"][order],
    }


def _with_bad_rows(
    rng: np.random.Generator, fact: dict[str, np.ndarray], n_customers: int, n_materials: int
) -> pd.DataFrame:
    """The fact frame: the good lines of `fact` (its arrays are replaced) plus a few bad ones.

    Five kinds are an extra last line of a distinct order, copied from the order's last line and
    then broken: no customer, an unknown customer, material or sales org, or a return (negative
    quantity and value). The sixth kind is an exact copy of a line. Each bad row sits right after
    the line it copies, as it would in an extract; no good row changes.
    """
    n = len(fact["order_id"])
    k = max(MIN_BAD_ROWS, round(BAD_ROW_RATE * n))
    last_lines = np.flatnonzero(np.append(fact["order_id"][1:] != fact["order_id"][:-1], True))
    source = np.concatenate(
        [rng.choice(last_lines, size=5 * k, replace=False), rng.choice(n, size=k, replace=False)]
    )
    bad = {name: column[source] for name, column in fact.items()}
    bad["order_line"][: 5 * k] += 1
    no_customer = np.zeros(len(source), dtype=bool)
    no_customer[:k] = True
    bad["customer_id"][k : 2 * k] = FIRST_CUSTOMER_ID + n_customers + rng.integers(100, size=k)
    bad["material_id"][2 * k : 3 * k] = FIRST_MATERIAL_ID + n_materials + rng.integers(20, size=k)
    bad["sales_org"][3 * k : 4 * k] = len(SALES_ORGS)  # UNKNOWN_SALES_ORG
    for name in ("quantity", "net_value"):
        bad[name][4 * k : 5 * k] *= -1

    after = source + 1
    for name in fact:  # one column at a time: the old array is freed before the next is built
        fact[name] = np.insert(fact[name], after, bad[name])
    return pd.DataFrame(
        {
            **fact,
            "customer_id": pd.arrays.IntegerArray(
                fact["customer_id"], np.insert(np.zeros(n, dtype=bool), after, no_customer)
            ),
            "sales_org": pd.Categorical.from_codes(
                fact["sales_org"], categories=[*(o[0] for o in SALES_ORGS), UNKNOWN_SALES_ORG]
            ),
        },
        copy=False,
    )  # no consolidation copy: the arrays are fresh
