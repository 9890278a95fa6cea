"""Every input table and column of a fleet case, declared once.

The declarations below drive loading (:mod:`planner.fleet`), column validation
(:mod:`planner.checks`, through pandera), and the data reference in ``fleet_data/README.md``
(:func:`data_reference_markdown`). Units are part of column names (``power_w``, ``capex_usd``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
ID_RULE = "lower-case snake_case matching ^[a-z][a-z0-9_]*$ (PuLP rewrites '-' and spaces to '_')"

PLATFORM_CLASSES = ("cpu", "accelerator_fabric", "inference_asic")
BUCKETS = ("ranking", "cv", "translation", "speech")
PHASES = ("inference", "training")
SOURCE_KINDS = ("measured", "published", "derived", "estimate")
SECONDS_PER_DAY = 86_400
HOURS_PER_QUARTER = 2_190  # 8,760 h per year / 4

DType = Literal["str", "int", "float"]


@dataclass(frozen=True)
class Column:
    """One column of an input table.

    Attributes:
        name: Column header; carries the unit as a suffix where there is one.
        dtype: ``str``, ``int`` or ``float``.
        description: What the value means, for the generated data reference.
        unit: Human-readable unit, or ``None`` for labels and counts.
        required: Whether the column must be present in the file.
        default: Value used when an optional column is absent or a cell is blank.
        nullable: Whether a blank cell is allowed (it then means "no limit" or the default).
        allowed: Closed vocabulary for labels.
        minimum: Smallest allowed value (inclusive) for numbers; with ``positive`` the smallest
            plausible one (a value such as 1e-300 passes "> 0" but plans nonsense).
        positive: Whether the value must be strictly greater than zero.
        maximum: Largest plausible value (inclusive) for numbers. Every numeric column has one:
            magnitudes like 1e300 or 1e12 servers pass every other rule and then break the
            solver, so values outside the range are rejected with the range in the message.
        is_id: Whether the value is an identifier that must match :data:`ID_PATTERN`.
        ref: ``"table.column"`` that the value must exist in.
    """

    name: str
    dtype: DType
    description: str
    unit: str | None = None
    required: bool = True
    default: object = None
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    positive: bool = False
    maximum: float | None = None
    is_id: bool = False
    ref: str | None = None

    def rule(self) -> str:
        """Return the value rule in words, for messages and the data reference."""
        parts: list[str] = []
        if self.allowed:
            parts.append("one of " + ", ".join(self.allowed))
        if self.is_id:
            parts.append("snake_case id")
        if self.dtype != "str":
            parts.append(self.range_text())
        if self.ref:
            parts.append(f"must exist in {self.ref}")
        if self.nullable:
            parts.append("blank allowed")
        return "; ".join(parts)

    def range_text(self) -> str:
        """Return the allowed range in words, e.g. ``from 0.001 to 1e+10 queries/s``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None:
            low = f"from {format_number(self.minimum)}"
        elif self.positive and self.dtype == "int":
            low = "from 1"
        else:
            low = "greater than 0" if self.positive else "any value"
        if self.maximum is None:
            return f"{low}{unit}"
        joiner = " to " if low.startswith("from") else " and up to "
        return f"{low}{joiner}{format_number(self.maximum)}{unit}"

    def in_range(self, value: float) -> bool:
        """Return whether a finite number lies in the declared range."""
        if self.positive and not value > 0:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum


def format_number(value: float) -> str:
    """Return a range bound readably: ``10,000``, ``0.001`` or ``1e+12``."""
    if float(value).is_integer() and abs(value) < 1e7:
        return f"{int(value):,}"
    return f"{value:g}"


@dataclass(frozen=True)
class Table:
    """One CSV table of a fleet case."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    file: str = field(default="")

    def __post_init__(self) -> None:
        if not self.file:
            object.__setattr__(self, "file", f"{self.name}.csv")

    def column(self, name: str) -> Column:
        """Return the declaration of column ``name``."""
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        """Return the declared column names in order."""
        return [c.name for c in self.columns]


def _source_columns() -> tuple[Column, Column]:
    return (
        Column(
            "source",
            "str",
            "Where the number comes from: paper, spec, MLPerf result id, or how it was estimated.",
        ),
        Column(
            "source_kind",
            "str",
            "How the number was obtained.",
            allowed=SOURCE_KINDS,
        ),
    )


PLATFORMS = Table(
    "platforms",
    "Server platforms that can be run or bought; one row per server type.",
    (
        Column("platform_id", "str", "Identifier of the server platform.", is_id=True),
        Column(
            "platform_class",
            "str",
            "Kind of platform.",
            allowed=PLATFORM_CLASSES,
        ),
        Column("family", "str", "Hardware family, e.g. tioga_pass, yosemite_v2, zion."),
        Column("generation", "str", "CPU or accelerator generation, e.g. skylake, glacier_point."),
        Column(
            "power_w",
            "float",
            "Provisioned (nameplate) power per server.",
            "W",
            positive=True,
            minimum=1,
            maximum=100_000,
        ),
        Column("capex_usd", "float", "Purchase price per server.", "USD", minimum=0, maximum=1e8),
        Column(
            "host_memory_gb",
            "float",
            "Host DRAM per server.",
            "GB",
            positive=True,
            minimum=0.01,
            maximum=1e6,
        ),
        Column(
            "accel_memory_gb",
            "float",
            "Accelerator memory per server, summed over its accelerators.",
            "GB",
            required=False,
            default=0.0,
            minimum=0,
            maximum=1e6,
        ),
        Column(
            "accelerators",
            "int",
            "Accelerators per server (0 for CPU servers).",
            required=False,
            default=0,
            minimum=0,
            maximum=1_024,
        ),
        Column(
            "lead_time_quarters",
            "int",
            "Quarters between ordering and the server serving traffic.",
            "quarters",
            minimum=0,
            maximum=40,
        ),
        Column(
            "lifetime_quarters",
            "int",
            "Quarters a bought server stays in service.",
            "quarters",
            positive=True,
            maximum=200,
        ),
        Column(
            "rack_units",
            "float",
            "Rack space per server.",
            "RU",
            positive=True,
            minimum=0.01,
            maximum=100,
        ),
        Column(
            "supply_per_quarter",
            "float",
            "Most servers of this platform that can be bought per quarter, over all regions; "
            "blank means unlimited.",
            "servers",
            required=False,
            nullable=True,
            minimum=0,
            maximum=1e7,
        ),
        Column(
            "available_from_quarter",
            "int",
            "First quarter (0-based) in which the platform can be ordered.",
            "quarter",
            required=False,
            default=0,
            minimum=0,
            maximum=1_000,
        ),
        Column(
            "maintenance_usd_per_quarter",
            "float",
            "Maintenance cost per server in service per quarter.",
            "USD",
            required=False,
            default=0.0,
            minimum=0,
            maximum=1e7,
        ),
        *_source_columns(),
    ),
    key=("platform_id",),
)

MODELS = Table(
    "models",
    "ML workloads to serve or train; one row per model.",
    (
        Column("model_id", "str", "Identifier of the model.", is_id=True),
        Column("bucket", "str", "Service bucket.", allowed=BUCKETS),
        Column("phase", "str", "Inference (latency-bound) or training.", allowed=PHASES),
        Column(
            "latency_slo_ms",
            "float",
            "Latency bound at which profiles' throughput is measured.",
            "ms",
            positive=True,
            minimum=1e-3,
            maximum=1e9,
        ),
        Column(
            "latency_percentile",
            "float",
            "Percentile of the latency bound, e.g. 99.",
            "%",
            positive=True,
            maximum=100,
            minimum=1,
        ),
        Column(
            "memory_gb",
            "float",
            "Memory footprint of one replica: weights plus embedding tables.",
            "GB",
            positive=True,
            minimum=1e-6,
            maximum=1e7,
        ),
        Column(
            "min_replicas",
            "int",
            "Fewest replicas per region where the model has demand.",
            "replicas",
            required=False,
            default=1,
            minimum=0,
            maximum=10_000,
        ),
        Column(
            "max_shards",
            "int",
            "Most servers one replica may span when it does not fit in one server.",
            "servers",
            required=False,
            default=1,
            positive=True,
            maximum=1_024,
        ),
        Column(
            "unit",
            "str",
            "What one query of throughput is (predictions, images, sentences, samples).",
            required=False,
            default="queries",
        ),
        *_source_columns(),
    ),
    key=("model_id",),
)

PROFILES = Table(
    "profiles",
    "Latency-bounded throughput of a model on a platform: either one row with blank "
    "latency_ms (the throughput at the model's SLO) or a curve, rows at several latency "
    "bounds, non-decreasing in the bound, read at the model's SLO (linear between bounds, the "
    "largest bound's value above them; below the smallest bound the platform cannot serve the "
    "model). A missing row means the model cannot run on that platform.",
    (
        Column("model_id", "str", "Model.", is_id=True, ref="models.model_id"),
        Column("platform_id", "str", "Platform.", is_id=True, ref="platforms.platform_id"),
        Column(
            "latency_ms",
            "float",
            "Latency bound of a curve point; blank: a single point at the model's SLO.",
            "ms",
            required=False,
            nullable=True,
            positive=True,
            minimum=1e-3,
            maximum=1e9,
        ),
        Column(
            "percentile",
            "float",
            "Percentile of the curve point's bound; blank: the model's latency_percentile. A "
            "curve at a higher percentile than the model's also serves it (conservatively).",
            "%",
            required=False,
            nullable=True,
            positive=True,
            minimum=1,
            maximum=100,
        ),
        Column(
            "qps_per_server",
            "float",
            "Throughput of one server within the bound (the model's SLO for a single point).",
            "queries/s",
            positive=True,
            minimum=1e-3,
            maximum=1e10,
        ),
        Column(
            "power_w_at_load",
            "float",
            "Measured wall power of one server at that load, where known.",
            "W",
            required=False,
            nullable=True,
            positive=True,
            minimum=1,
            maximum=100_000,
        ),
        *_source_columns(),
        Column(
            "factors",
            "str",
            "Named estimated factors (factors.csv) the row's derivation used, with the power "
            "its throughput depends on each: 'name' (linear) or 'name^-1', separated by ';'.",
            required=False,
            nullable=True,
        ),
    ),
    # One row per pair once curves are read at the SLOs; a curve's points are keyed by
    # (model_id, platform_id, latency_ms, percentile), checked by check_profile_curves.
    key=("model_id", "platform_id"),
)

REGIONS = Table(
    "regions",
    "Datacenter regions; each is one failure domain for disaster recovery.",
    (
        Column("region_id", "str", "Identifier of the region.", is_id=True),
        Column(
            "power_cap_kw",
            "float",
            "Facility power available to the ML fleet (IT power times PUE).",
            "kW",
            positive=True,
            minimum=1e-3,
            maximum=1e7,
        ),
        Column("pue", "float", "Power usage effectiveness.", minimum=1.0, maximum=5),
        Column(
            "electricity_usd_per_kwh",
            "float",
            "Electricity price.",
            "USD/kWh",
            minimum=0,
            maximum=10,
        ),
        Column(
            "space_limit_ru",
            "float",
            "Rack space available to the ML fleet; blank means unlimited.",
            "RU",
            required=False,
            nullable=True,
            minimum=0,
            maximum=1e8,
        ),
        Column(
            "demand_share",
            "float",
            "Share of each product's traffic served from this region (shares sum to 1).",
            "fraction",
            required=False,
            nullable=True,
            minimum=0,
            maximum=1,
        ),
        Column(
            "utc_offset_h",
            "float",
            "Local time minus UTC in hours: a load shape's local hour h is UTC hour "
            "h - offset (time of day, planner.diurnal); blank means 0.",
            "h",
            required=False,
            nullable=True,
            default=0.0,
            minimum=-12,
            maximum=14,
        ),
        *_source_columns(),
    ),
    key=("region_id",),
)

REGION_POWER_CAPS = Table(
    "region_power_caps",
    "Power caps that change over the horizon; override regions.power_cap_kw from a quarter on.",
    (
        Column("region_id", "str", "Region.", is_id=True, ref="regions.region_id"),
        Column(
            "quarter",
            "int",
            "First quarter (0-based) of the new cap.",
            "quarter",
            minimum=0,
            maximum=1_000,
        ),
        Column(
            "power_cap_kw",
            "float",
            "Facility power cap.",
            "kW",
            positive=True,
            minimum=1e-3,
            maximum=1e7,
        ),
        *_source_columns(),
    ),
    key=("region_id", "quarter"),
    required=False,
)

TOPOLOGY = Table(
    "topology",
    "Which regions can absorb a lost region's traffic (directed edges). Without this file "
    "every region backs up every other.",
    (
        Column("region_id", "str", "Region that may be lost.", is_id=True, ref="regions.region_id"),
        Column(
            "backup_region_id",
            "str",
            "Region that can take over its traffic.",
            is_id=True,
            ref="regions.region_id",
        ),
        Column(
            "network_latency_ms",
            "float",
            "Added network latency when the backup region serves the region's users: "
            "follow the sun (settings diurnal.follow_sun_share) uses the edge for a model "
            "only when this is at most diurnal.follow_sun_latency_share of its SLO; blank: "
            "not used for follow the sun.",
            "ms",
            required=False,
            nullable=True,
            minimum=0,
            maximum=10_000,
        ),
        *_source_columns(),
    ),
    key=("region_id", "backup_region_id"),
    required=False,
)

INVENTORY = Table(
    "inventory",
    "Servers already installed, by platform and region, with the quarter they retire.",
    (
        Column("platform_id", "str", "Platform.", is_id=True, ref="platforms.platform_id"),
        Column("region_id", "str", "Region.", is_id=True, ref="regions.region_id"),
        Column("servers", "int", "Installed servers.", "servers", minimum=0, maximum=1e7),
        Column(
            "retire_quarter",
            "int",
            "First quarter (0-based) in which these servers are gone; blank means never.",
            "quarter",
            required=False,
            nullable=True,
            minimum=0,
            maximum=1_000,
        ),
        *_source_columns(),
    ),
    key=("platform_id", "region_id", "retire_quarter"),
    required=False,
)

PRODUCTS = Table(
    "products",
    "User-facing products whose requests drive model demand through the call graph.",
    (
        Column("product_id", "str", "Identifier of the product.", is_id=True),
        Column(
            "daily_requests",
            "float",
            "Requests per day in quarter 0.",
            "requests/day",
            minimum=0,
            maximum=1e15,
        ),
        Column(
            "peak_to_average",
            "float",
            "Peak-hour request rate divided by the daily mean.",
            "ratio",
            minimum=1.0,
            maximum=1_000,
        ),
        Column(
            "growth_per_quarter",
            "float",
            "Compound growth of requests per quarter (0.1 = +10 % per quarter).",
            "fraction",
            minimum=-0.99,
            maximum=1,
        ),
        *_source_columns(),
    ),
    key=("product_id",),
    required=False,
)

CALLS = Table(
    "calls",
    "Call graph: each request of a caller (product or model) issues items_per_request "
    "queries of a model. Must be acyclic.",
    (
        Column("caller_id", "str", "Product or model that calls.", is_id=True),
        Column("model_id", "str", "Model called.", is_id=True, ref="models.model_id"),
        Column(
            "items_per_request",
            "float",
            "Model queries per caller request (e.g. candidate items ranked).",
            "queries/request",
            positive=True,
            minimum=1e-6,
            maximum=1e6,
        ),
        *_source_columns(),
    ),
    key=("caller_id", "model_id"),
    required=False,
)

DEMAND = Table(
    "demand",
    "Plain per-model peak demand, by region and quarter; added to demand from the call graph.",
    (
        Column("model_id", "str", "Model.", is_id=True, ref="models.model_id"),
        Column("region_id", "str", "Region.", is_id=True, ref="regions.region_id"),
        Column("quarter", "int", "Quarter (0-based).", "quarter", minimum=0, maximum=1_000),
        Column(
            "peak_qps",
            "float",
            "Peak throughput to serve within the SLO.",
            "queries/s",
            minimum=0,
            maximum=1e12,
        ),
        *_source_columns(),
    ),
    key=("model_id", "region_id", "quarter"),
    required=False,
)

FACTORS = Table(
    "factors",
    "Named estimated factors of the case's derivation, each with a plausible range; the "
    "source says what the factor is and why this value and range. Profile rows name the "
    "factors they used (profiles.factors), so `python -m planner sensitivity CASE --factor "
    "NAME` re-derives the case at the low and high values.",
    (
        Column("factor_id", "str", "Name of the factor.", is_id=True),
        Column(
            "value",
            "float",
            "Value used by the derivation.",
            positive=True,
            minimum=1e-9,
            maximum=1e9,
        ),
        Column(
            "low",
            "float",
            "Low end of the plausible range (at most value).",
            positive=True,
            minimum=1e-9,
            maximum=1e9,
        ),
        Column(
            "high",
            "float",
            "High end of the plausible range (at least value).",
            positive=True,
            minimum=1e-9,
            maximum=1e9,
        ),
        *_source_columns(),
    ),
    key=("factor_id",),
    required=False,
)

LOAD_SHAPES = Table(
    "load_shapes",
    "24-hour load shapes (time of day, planner.diurnal): relative load per local hour of a "
    "product or a model, mean 1. Used when settings.diurnal.slots is set.",
    (
        Column(
            "shape_of",
            "str",
            "Product (or model, for plain demand rows) whose load follows the shape.",
            is_id=True,
        ),
        Column("hour", "int", "Local hour of the day.", "h", minimum=0, maximum=23),
        Column(
            "relative_load",
            "float",
            "Load in that hour relative to the daily mean (the 24 values average 1).",
            "fraction",
            minimum=0,
            maximum=24,
        ),
        *_source_columns(),
    ),
    key=("shape_of", "hour"),
    required=False,
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        PLATFORMS,
        MODELS,
        PROFILES,
        REGIONS,
        REGION_POWER_CAPS,
        TOPOLOGY,
        INVENTORY,
        PRODUCTS,
        CALLS,
        DEMAND,
        LOAD_SHAPES,
        FACTORS,
    )
}


def data_reference_markdown() -> str:
    """Return the Markdown data reference for every table and column, from the declarations."""
    from planner.settings import settings_reference_markdown

    out = [
        "## Data reference (generated from `planner/schema.py`)",
        "",
        "A fleet case is a folder of CSV files (UTF-8, header row, one row per record) plus "
        "`settings.yaml`. Quarters are 0-based indices into the planning horizon. Blank "
        "optional cells take the default shown.",
        "",
    ]
    for table in TABLES.values():
        need = "required" if table.required else "optional"
        out += [f"### `{table.file}` ({need})", "", table.description, ""]
        out += [f"Key: {', '.join(table.key)}.", ""]
        out += ["| column | type | unit | required | default | rule | description |"]
        out += ["|---|---|---|---|---|---|---|"]
        for c in table.columns:
            default = "" if c.default is None else f"{c.default}"
            out.append(
                f"| `{c.name}` | {c.dtype} | {c.unit or ''} | {'yes' if c.required else 'no'} "
                f"| {default} | {c.rule()} | {c.description} |"
            )
        out.append("")
    out += settings_reference_markdown()
    return "\n".join(out)
