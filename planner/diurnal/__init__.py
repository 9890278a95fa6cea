"""Time of day: diurnal load shapes, slots, training on idle inference capacity, on-device share.

``settings.diurnal.slots`` turns it on (see :mod:`planner.diurnal.slots`); without it every
case plans exactly as the peak-only model. Names load lazily: the model builders import the
leaf :mod:`planner.diurnal.layout` and must not pull in the planning pipeline.
"""

from __future__ import annotations

from planner.lazy import lazy_exports

_EXPORTS = {
    "hourly_demand": "planner.diurnal.shapes",
    "shapes": "planner.diurnal.shapes",
    "utc_offsets": "planner.diurnal.shapes",
    "expand_fleet": "planner.diurnal.slots",
    "slot_demand": "planner.diurnal.slots",
    "slot_length": "planner.diurnal.slots",
    "DiurnalPlan": "planner.diurnal.plan",
    "plan_diurnal": "planner.diurnal.plan",
    "is_slotted": "planner.diurnal.layout",
    "harvest_report": "planner.diurnal.harvest",
    "slot_load": "planner.diurnal.harvest",
    "day_profile": "planner.diurnal.harvest",
    "day_chart": "planner.diurnal.harvest",
    "check_slots": "planner.diurnal.verify",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("planner.diurnal", _EXPORTS, globals())
