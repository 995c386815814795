"""The toxic types by wire name (case-sensitive, as in Toxiproxy). One module per toxic."""

from __future__ import annotations

from .bandwidth import BandwidthToxic
from .base import InvalidAttribute, Toxic, ToxicStub
from .latency import LatencyToxic
from .limit_data import LimitDataToxic
from .noop import NoopToxic
from .reset_peer import ResetPeerToxic
from .slicer import SlicerToxic
from .slow_close import SlowCloseToxic
from .timeout import TimeoutToxic

TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.wire_name: cls
    for cls in (
        LatencyToxic,
        BandwidthToxic,
        SlowCloseToxic,
        TimeoutToxic,
        ResetPeerToxic,
        SlicerToxic,
        LimitDataToxic,
        NoopToxic,
    )
}

__all__ = [
    "TOXIC_TYPES",
    "BandwidthToxic",
    "InvalidAttribute",
    "LatencyToxic",
    "LimitDataToxic",
    "NoopToxic",
    "ResetPeerToxic",
    "SlicerToxic",
    "SlowCloseToxic",
    "TimeoutToxic",
    "Toxic",
    "ToxicStub",
]
